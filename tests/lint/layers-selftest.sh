#!/usr/bin/env bash
# layers-selftest.sh: layers.sh must flag each planted violation with its
# file:line and accept the allowed includes, in a scratch tree.
set -euo pipefail

lint="$(cd "$(dirname "$0")" && pwd)/layers.sh"
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree"/{src/util,src/conf,src/store,src/core,src/api,src/qemu,tools/vmsnap,include/vmsnap}

cat >"$tree/src/util/ok.c" <<'C'
#include <stdio.h>
#include "util/error.h"
#include "names.h"
C
cat >"$tree/src/util/bad.c" <<'C'
#include <glib.h>
#include "store/store.h"
C
cat >"$tree/src/conf/domain_conf.c" <<'C'
#include <libxml/parser.h>
#include "util/error.h"
#include "store/store.h"
#  include "qemu/qmp.h"
C
cat >"$tree/src/conf/domain_conf.h" <<'C'
#include <libxml/tree.h>
C
cat >"$tree/src/store/store.c" <<'C'
#include "conf/snapshot_conf.h"
#include "util/error.h"
#include "../core/plan.h"
C
cat >"$tree/src/qemu/qmp.c" <<'C'
#include <json-c/json.h>
C
cat >"$tree/src/core/plan.c" <<'C'
#include <json-c/json_object.h>
#include "conf/snapshot_conf.h"
#include "store/store.h"
#include "api/handles.h"
C
cat >"$tree/tools/vmsnap/main.c" <<'C'
#include <glib.h>
#include <vmsnap/vmsnap.h>
#include "cli.h"
#include "util/error.h"
#include "../../src/conf/domain_conf.h"
C
cat >"$tree/include/vmsnap/vmsnap.h" <<'C'
#include <stddef.h>
#include <glib.h>
C
mkdir -p "$tree/src/weird"
echo '#include "util/error.h"' >"$tree/src/weird/x.c"

expected="include/vmsnap/vmsnap.h:2: public header includes 'glib.h': public headers use standard C headers only
src/conf/domain_conf.c:3: src/conf may not include src/store ('store/store.h')
src/conf/domain_conf.c:4: src/conf may not include src/qemu ('qemu/qmp.h')
src/conf/domain_conf.h:1: includes <libxml/tree.h>: only src/conf/*.c may use libxml2
src/core/plan.c:1: includes <json-c/json_object.h>: only src/qemu/ may use json-c (docs/adr/0001)
src/core/plan.c:4: src/core includes 'api/handles.h' from src/api, a higher layer
src/store/store.c:1: src/store includes 'conf/snapshot_conf.h' from src/conf, a higher layer
src/store/store.c:3: src/store includes '../core/plan.h' from src/core, a higher layer
src/util/bad.c:2: src/util includes 'store/store.h' from src/store, a higher layer
src/weird/x.c:1: unknown layer 'weird': add it to tests/lint/layers.sh and DESIGN.md
tools/vmsnap/main.c:4: tools/ includes 'util/error.h' from src/util: the CLI uses only <vmsnap/...>
tools/vmsnap/main.c:5: tools/ includes '../../src/conf/domain_conf.h' from src/conf: the CLI uses only <vmsnap/...>
layers: 12 violation(s) of DESIGN.md's layering in 10 files"

status=0
actual=$(LAYERS_NO_GIT=1 "$lint" "$tree") || status=$?
if [[ $status -ne 1 ]]; then
    echo "layers.sh exited $status on a tree with violations; expected 1"
    exit 1
fi
if [[ "$actual" != "$expected" ]]; then
    echo "layers.sh output differs from the expected report:"
    diff <(echo "$expected") <(echo "$actual") || true
    exit 1
fi

# The same tree without the violations passes.
rm "$tree/src/util/bad.c" "$tree/src/conf/domain_conf.h" "$tree/src/store/store.c" \
    "$tree/src/core/plan.c" "$tree/tools/vmsnap/main.c" "$tree/include/vmsnap/vmsnap.h"
rm -r "$tree/src/weird"
sed -i '/store\|qemu/d' "$tree/src/conf/domain_conf.c"
LAYERS_NO_GIT=1 "$lint" "$tree"
echo "layers-selftest: ok"
