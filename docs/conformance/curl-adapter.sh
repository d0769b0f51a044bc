#!/usr/bin/env bash
# A conformance-kit adapter with no careplan-sim code: openssl signs and verifies, curl talks to the
# hub over mutual TLS, python3 only reads and writes JSON. It implements login, send, download and
# send_list (bulk_send answers {"unsupported": true}). Use it as a template for your own adapter:
#
#   CA=… P12=… P12_PASSWORD=… USER_ID=… PASSWORD=… [STATE=dir] \
#     careplan conformance run … --sut "bash docs/conformance/curl-adapter.sh"
#
# Protocol: one step as JSON on stdin ({"action", "hub", "to", "files", "out", …}), one result JSON
# on stdout (README, "Conformance kit"). STATE keeps the session token between steps.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
state=${STATE:-$HOME/.careplan-curl-adapter}
mkdir -p "$state"
cat > "$work/step.json"
field() { python3 -c "import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print(v if v is not None else '')" "$work/step.json" "$1"; }
action=$(field action)
HUB=$(field hub)

openssl pkcs12 -in "$P12" -passin "pass:$P12_PASSWORD" -nodes -out "$work/terminal.pem" 2>/dev/null
# curl: the body to $work/body, the HTTP status to stdout
call() { curl --silent --show-error --cacert "$CA" --cert "$work/terminal.pem" -o "$work/body" -w '%{http_code}' "$@"; }
auth() { echo "Authorization: Bearer $(cat "$state/token" 2>/dev/null)"; }
refused() {  # the hub's JSON refusal (code, message, detail, fix) as the step's result
  python3 -c "import json,sys; e=json.load(open(sys.argv[1])); print(json.dumps({'ok': False, 'error': e}, ensure_ascii=False))" "$work/body"
}

login() {
  python3 -c "import json,os; print(json.dumps({'user_id': os.environ['USER_ID'], 'password': os.environ['PASSWORD']}))" > "$work/login.json"
  status=$(call -H 'Content-Type: application/json' --data-binary "@$work/login.json" "$HUB/api/v1/session")
  [ "$status" = 201 ] || { refused; return; }
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['token'], end='')" "$work/body" > "$state/token"
  echo '{"ok": true}'
}

send() {
  # The manifest signed at the hub's time (GET /healthz), not this machine's: the hub's clock rules.
  call "$HUB/healthz" > /dev/null
  python3 - "$work/body" "$work/step.json" > "$work/manifest.json" <<'PY'
import hashlib, json, os, sys, uuid
hub_time = json.load(open(sys.argv[1]))["hub_time"]
step = json.load(open(sys.argv[2]))
files = [{"name": os.path.basename(p), "size": os.path.getsize(p),
          "sha256": hashlib.sha256(open(p, "rb").read()).hexdigest()} for p in step["files"]]
print(json.dumps({"version": 1, "transmission_id": uuid.uuid4().hex, "sender": step["office"],
                  "recipient": step["to"], "signed_at": hub_time, "files": files}), end="")
PY
  openssl cms -sign -binary -md sha256 -in "$work/manifest.json" -signer "$work/terminal.pem" \
    -outform DER -out "$work/manifest.p7s"
  local parts=(-F "manifest=@$work/manifest.json;type=application/json"
               -F "signature=@$work/manifest.p7s;type=application/pkcs7-signature")
  while IFS= read -r path; do parts+=(-F "file=@$path"); done < <(python3 -c "import json,sys; print('\n'.join(json.load(open(sys.argv[1]))['files']))" "$work/step.json")
  # A 5xx or a lost answer is retried with the same id, signature and files (at most 5 tries,
  # waiting as Retry-After says, else 1, 2, 4, 8 s): the hub answers 200 already_stored if the
  # first try was stored after all, so a retry never duplicates. A 4xx is final.
  local attempt=1 wait
  while :; do
    status=$(call -D "$work/headers" -H "$(auth)" "${parts[@]}" "$HUB/api/v1/transmissions") || status=000
    case $status in 5??|000) ;; *) break ;; esac
    [ "$attempt" -lt 5 ] || break
    wait=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$work/headers" 2>/dev/null | head -n 1)
    sleep "${wait:-$((1 << (attempt - 1)))}"
    attempt=$((attempt + 1))
  done
  if [ "$status" = 000 ]; then
    echo '{"ok": false, "error": {"code": "HUB_UNREACHABLE", "detail": "no answer from the hub after 5 tries"}}'
    return
  fi
  [ "$status" = 201 ] || [ "$status" = 200 ] || { refused; return; }
  python3 -c "import json,sys; print(json.dumps({'ok': True, 'transmission_id': json.load(open(sys.argv[1]))['transmission_id']}))" "$work/body"
}

receive_one() {  # $1 id, $2 out: verify the sender's signature and every file BEFORE the receipt
  local id=$1 out=$2 dir="$work/$1"
  mkdir -p "$dir"
  [ "$(call -H "$(auth)" "$HUB/api/v1/inbox/$id")" = 200 ] || return 1
  cp "$work/body" "$dir/info.json"
  python3 -c "import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))['manifest'])" "$dir/info.json" > "$dir/manifest.json"
  python3 -c "import base64,json,sys; sys.stdout.buffer.write(base64.b64decode(json.load(open(sys.argv[1]))['signature']))" "$dir/info.json" > "$dir/manifest.p7s"
  openssl cms -verify -binary -inform DER -in "$dir/manifest.p7s" -content "$dir/manifest.json" \
    -CAfile "$CA" -purpose any -signer "$dir/signer.pem" -out /dev/null 2>/dev/null || return 1
  # the signer must be the sender the manifest names, and the manifest addressed to this office
  signer=$(openssl x509 -in "$dir/signer.pem" -noout -subject -nameopt multiline | sed -n 's/^ *serialNumber *= *//p')
  python3 -c "import json,sys; m=json.load(open(sys.argv[1])); sys.exit(m['sender'] != sys.argv[2] or m['recipient'] != sys.argv[3])" \
    "$dir/manifest.json" "$signer" "$(field office)" || return 1
  mkdir -p "$dir/files"
  while read -r position name; do
    [ "$(call -H "$(auth)" "$HUB/api/v1/inbox/$id/files/$position")" = 200 ] || return 1
    mv "$work/body" "$dir/files/$name"
  done < <(python3 -c "import json,sys; [print(f['position'], f['name']) for f in json.load(open(sys.argv[1]))['files']]" "$dir/info.json")
  (cd "$dir/files" && python3 -c "
import hashlib, json, sys
for f in json.load(open(sys.argv[1]))['files']:
    assert hashlib.sha256(open(f['name'], 'rb').read()).hexdigest() == f['sha256'], f['name']" ../manifest.json) 2>/dev/null || return 1
  mkdir -p "$out/$id" && cp "$dir/files/"* "$out/$id/"
  [ "$(call -X POST -H "$(auth)" "$HUB/api/v1/inbox/$id/ack")" = 200 ]
}

download() {
  local out ok=() bad=()
  out=$(field out)
  [ "$(call -H "$(auth)" "$HUB/api/v1/inbox")" = 200 ] || { refused; return; }
  for id in $(python3 -c "import json,sys; [print(t['transmission_id']) for t in json.load(open(sys.argv[1]))['transmissions']]" "$work/body"); do
    if receive_one "$id" "$out"; then ok+=("$id"); else bad+=("$id"); fi
  done
  python3 -c "
import json, sys
ok, bad = sys.argv[1].split(), sys.argv[2].split()
error = {'code': 'FILE_TAMPERED', 'message': '受信に失敗しました。再度実行してください。'}
print(json.dumps({'ok': not bad, 'downloaded': ok, 'refused': [{'transmission_id': i, 'error': error} for i in bad]}, ensure_ascii=False))" "${ok[*]:-}" "${bad[*]:-}"
}

send_list() {
  [ "$(call -H "$(auth)" "$HUB/api/v1/sent")" = 200 ] || { refused; return; }
  python3 -c "
import json, sys
rows = json.load(open(sys.argv[1]))['transmissions']
print(json.dumps({'ok': True, 'transmissions': [{'transmission_id': r['transmission_id'], 'status': r['status']} for r in rows]}, ensure_ascii=False))" "$work/body"
}

case "$action" in
  login|send|download|send_list) "$action" ;;
  *) echo '{"unsupported": true}' ;;
esac
