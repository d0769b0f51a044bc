#!/usr/bin/env bash
# A whole exchange with no careplan-sim code: openssl signs, curl talks to the hub over mutual TLS.
# What a vendor's own client (Java, C#, Go, …) must do, step by step. Tested by
# tests/e2e/test_vendor_recipe.py and tests/conformance/test_vendor_recipe_hub_time.py. Needs: bash, openssl, curl, python3 (only to build/read JSON).
#
#   send:    HUB=… CA=… P12=… P12_PASSWORD=… USER_ID=… PASSWORD=… SENDER=… RECIPIENT=… \
#            docs/vendor-recipe.sh send FILE…
#   receive: HUB=… CA=… P12=… P12_PASSWORD=… USER_ID=… PASSWORD=… OUT=dir docs/vendor-recipe.sh receive
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. The terminal's certificate: the office .p12 as one PEM with key and certificate (keep it private).
openssl pkcs12 -in "$P12" -passin "pass:$P12_PASSWORD" -nodes -out "$work/terminal.pem" 2>/dev/null
# Every call: the answer on stdout; on a refusal the hub's own JSON error (code, message, detail,
# fix) on stderr and the script stops. Answers are kept in variables before they are parsed, so a
# refusal is never fed to a JSON reader that expects something else.
hub() {
  local body status
  body=$(mktemp -p "$work")
  status=$(curl --silent --show-error --cacert "$CA" --cert "$work/terminal.pem" -o "$body" -w '%{http_code}' "$@")
  if [ "$status" -ge 400 ]; then
    echo "refused by the hub (HTTP $status): $(cat "$body")" >&2
    exit 1
  fi
  cat "$body"
}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# 2. Log in: the session is bound to this certificate.
python3 -c "import json,os; print(json.dumps({'user_id': os.environ['USER_ID'], 'password': os.environ['PASSWORD']}))" \
  > "$work/login.json"
session=$(hub -H 'Content-Type: application/json' --data-binary "@$work/login.json" "$HUB/api/v1/session")
token=$(json '["token"]' <<< "$session")
auth="Authorization: Bearer $token"

send() {
  # 3. The manifest: transmission id, sender, recipient, signing time, each file's name, size, SHA-256.
  #    Signed at the hub's time (GET /healthz), not this machine's: the hub judges the signing time
  #    on its own clock, which a simulation may have moved (`careplan hub clock advance`).
  local hub_time
  hub_time=$(hub "$HUB/healthz" | json '["hub_time"]')
  python3 - "$SENDER" "$RECIPIENT" "$hub_time" "$@" > "$work/manifest.json" <<'PY'
import hashlib, json, os, sys, uuid
sender, recipient, signed_at, *paths = sys.argv[1:]
files = [{"name": os.path.basename(p), "size": os.path.getsize(p),
          "sha256": hashlib.sha256(open(p, "rb").read()).hexdigest()} for p in paths]
print(json.dumps({"version": 1, "transmission_id": uuid.uuid4().hex, "sender": sender, "recipient": recipient,
                  "signed_at": signed_at, "files": files}), end="")
PY
  # 4. The signature: detached CMS SignedData over the manifest's exact bytes (-binary), SHA-256.
  openssl cms -sign -binary -md sha256 -in "$work/manifest.json" -signer "$work/terminal.pem" \
    -outform DER -out "$work/manifest.p7s"
  # 5. Upload: multipart parts manifest, signature, then one `file` part per file.
  local parts=(-F "manifest=@$work/manifest.json;type=application/json"
               -F "signature=@$work/manifest.p7s;type=application/pkcs7-signature")
  for path in "$@"; do parts+=(-F "file=@$path"); done
  hub -H "$auth" "${parts[@]}" "$HUB/api/v1/transmissions"
}

receive() {
  # 6. The inbox; for each transmission: its signed manifest, its files, then the receipt (ack).
  #    After the ack the hub forgets the data: a second download answers 410 ALREADY_DOWNLOADED.
  local inbox
  inbox=$(hub -H "$auth" "$HUB/api/v1/inbox")
  for id in $(python3 -c "import json,sys; [print(t['transmission_id']) for t in json.load(sys.stdin)['transmissions']]" \
              <<< "$inbox"); do
    local dir="$OUT/$id" info="$work/$id.json"
    mkdir -p "$dir"
    hub -H "$auth" "$HUB/api/v1/inbox/$id" > "$info"
    python3 -c "import json,sys; sys.stdout.write(json.load(sys.stdin)['manifest'])" < "$info" > "$OUT/$id.manifest.json"
    json '["signature"]' < "$info" | base64 -d > "$OUT/$id.manifest.p7s"
    # Verify the sender's signature yourself (the signer's certificate travels inside it).
    openssl cms -verify -binary -inform DER -in "$OUT/$id.manifest.p7s" -content "$OUT/$id.manifest.json" \
      -CAfile "$CA" -purpose any -out /dev/null
    python3 -c "import json,sys; [print(f['position'], f['name']) for f in json.load(open(sys.argv[1]))['files']]" \
      "$info" | while read -r position name; do
        hub -H "$auth" "$HUB/api/v1/inbox/$id/files/$position" > "$dir/$name"
      done
    (cd "$dir" && python3 -c "
import hashlib, json, sys
for f in json.load(open(sys.argv[1]))['files']:
    assert hashlib.sha256(open(f['name'], 'rb').read()).hexdigest() == f['sha256'], f['name']" "../$id.manifest.json")
    hub -X POST -H "$auth" "$HUB/api/v1/inbox/$id/ack" > /dev/null
    echo "$id"
  done
}

"$@"
