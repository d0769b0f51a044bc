"""The vendor conformance kit: runs a vendor's client (any language, through an adapter command) or a
person at it against a running hub, judges from the hub's side what the client did, and reports
coverage by requirement (R-number) and 標準仕様 §.

Modules: `units` (the files of each sending unit), `hubview` (evidence from the hub), `protocol`
(step JSON in, result JSON out), `suite` and `judges` (the client suite), `kit` (the loop), `report`
(JUnit, JSON, HTML, compare), `csvcoverage` (a vendor's CSV export judged and measured),
`adapters` (our own client behind the protocol)."""
