#!/bin/sh
# The control API of `pdk-runtime serve --flows DIR --api 9898`, driven
# with curl. The book shows these commands; a test runs this script
# against a real `serve` (runtime/tests/cli/serve.rs). Run from the
# repository root; API defaults to http://127.0.0.1:9898.
set -eu
API=${API:-http://127.0.0.1:9898}

# ANCHOR: put
# Start flow `ticks` (or replace it): the body is the flow file. It is
# checked first; a mistake is answered with 400 and the CLI's messages.
curl -fsS -X PUT --data-binary @examples/serve/ticks.toml "$API/flows/ticks"
# ANCHOR_END: put

# ANCHOR: list
# Every flow with its state, its connectors and their counts; one flow.
curl -fsS "$API/flows"
curl -fsS "$API/flows/ticks"
# ANCHOR_END: list

# ANCHOR: steer
# Pause and resume a source; restart a connector, or the whole flow.
curl -fsS -X POST "$API/flows/ticks/connectors/tick/pause"
curl -fsS -X POST "$API/flows/ticks/connectors/tick/resume"
curl -fsS -X POST "$API/flows/ticks/connectors/out/restart"
curl -fsS -X POST "$API/flows/ticks/restart"
# ANCHOR_END: steer

# ANCHOR: reload
# Read the flow directories and the plugin path again (as SIGHUP does).
curl -fsS -X POST "$API/reload"
# ANCHOR_END: reload

# ANCHOR: delete
# Drain and stop flow `ticks`, and remove its file.
curl -fsS -X DELETE "$API/flows/ticks"
# ANCHOR_END: delete
