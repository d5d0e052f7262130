#!/bin/sh
# schemas/gen/schemagen_test.sh: the generator accepts good route attributes
# and fails, naming the problem, on everything it must refuse.
# usage: schemagen_test.sh <cn_schemagen> <flatc> <tmp dir> <C compiler> <repo root>
set -eu
gen=$1
flatc=$2
tmp=$3
cc=$4
root=$5
rm -rf "$tmp"
mkdir -p "$tmp"
failures=0

header='attribute "service"; attribute "http"; attribute "response"; attribute "since"; attribute "max_body";'

# run <name>: flatc + schemagen on $tmp/<name>.fbs; sets rc and leaves stderr in $tmp/<name>.err
run() {
	"$flatc" -b --schema -o "$tmp" "$tmp/$1.fbs" 2>"$tmp/$1.err"
	rc=0
	"$gen" "$tmp/$1.bfbs" "$tmp/$1.h" "$tmp/$1.c" 2>>"$tmp/$1.err" || rc=$?
}

# must_fail <name> <expected message fragment> <schema body>
must_fail() {
	printf '%s\n%s\n' "$header" "$3" >"$tmp/$1.fbs"
	run "$1"
	if [ "$rc" -ne 1 ]; then
		echo "FAIL $1: schemagen exited $rc, expected 1"
		failures=$((failures + 1))
	elif ! grep -qF -- "$2" "$tmp/$1.err"; then
		echo "FAIL $1: message lacks '$2':"
		cat "$tmp/$1.err"
		failures=$((failures + 1))
	elif [ -e "$tmp/$1.h" ] || [ -e "$tmp/$1.c" ]; then
		echo "FAIL $1: output written despite the error"
		failures=$((failures + 1))
	fi
}

must_fail dup_table "duplicate short name 'Thing' (a.Thing and b.Thing)" '
namespace a; table Thing { x: int; }
namespace b; table Thing { y: int; }'
must_fail dup_enum "duplicate short name 'Color'" '
namespace a; enum Color : byte { RED }
namespace b; enum Color : byte { BLUE } table T { c: Color; }'
must_fail table_enum_clash "duplicate short name 'Kind'" '
namespace a; enum Kind : byte { X }
namespace b; table Kind { k: a.Kind; }'
must_fail struct "structs are not supported" '
namespace a; struct P { x: int; } table T { p: P; }'
must_fail union "unions are not supported" '
namespace a; table X {} union U { X } table T { u: U; }'
must_fail no_service "a.Req: a request table needs a \`service\` attribute" '
namespace a; table Resp {} table Req (http: "GET /x", response: "Resp") { id: string; }'
must_fail no_response "a.Req: a request table needs a \`response\` attribute" '
namespace a; table Req (service: "s", http: "GET /x") { id: string; }'
must_fail bad_response "response table 'Nope' does not exist" '
namespace a; table Req (service: "s", http: "GET /x", response: "Nope") { id: string; }'
must_fail bad_method "malformed http \"FETCH /x\"" '
namespace a; table Resp {} table Req (service: "s", http: "FETCH /x", response: "Resp") { id: string; }'
must_fail no_path "malformed http \"GET\"" '
namespace a; table Resp {} table Req (service: "s", http: "GET", response: "Resp") { id: string; }'
must_fail empty_part "malformed http \"GET /x|\"" '
namespace a; table Resp {} table Req (service: "s", http: "GET /x|", response: "Resp") { id: string; }'
must_fail relative_path "path must start with '/'" '
namespace a; table Resp {} table Req (service: "s", http: "GET x/y", response: "Resp") { id: string; }'
must_fail empty_segment "empty path segment" '
namespace a; table Resp {} table Req (service: "s", http: "GET /x//y", response: "Resp") { id: string; }'
must_fail bad_char "character '?' is not allowed" '
namespace a; table Resp {} table Req (service: "s", http: "GET /x?y=1", response: "Resp") { id: string; }'
must_fail param_unknown "path parameter {nope} is not a field of Req" '
namespace a; table Resp {} table Req (service: "s", http: "GET /x/{nope}", response: "Resp") { id: string; }'
must_fail param_vector "path parameter {ids} must be a scalar or string field" '
namespace a; table Resp {} table Req (service: "s", http: "GET /x/{ids}", response: "Resp") { ids: [string]; }'
must_fail param_partial "a path parameter is a whole segment" '
namespace a; table Resp {} table Req (service: "s", http: "GET /x/id-{id}", response: "Resp") { id: string; }'
must_fail bad_since "since \"two\" must be an API major version" '
namespace a; table Resp {} table Req (service: "s", http: "GET /x", response: "Resp", since: "two") { id: string; }'
must_fail bad_max_body "max_body \"-5\" must be a byte count" '
namespace a; table Resp {} table Req (service: "s", http: "GET /x", response: "Resp", max_body: "-5") { id: string; }'
must_fail dup_route "route GET /api/2.0/x is declared by both a.A and a.B" '
namespace a; table Resp {}
table A (service: "s", http: "GET /x", response: "Resp") { id: string; }
table B (service: "s", http: "GET /x", response: "Resp") { id: string; }'
must_fail name_clash "generated name cn_T_has_x would be defined twice" '
namespace a; table T { x: int; has_x: int; }'

# A good schema: every route feature, and the generated C compiles.
cat >"$tmp/good.fbs" <<EOF
$header
namespace a.b;
enum Mode : int { ON = 1, OFF = 2 }
table Resp {}
table Req (service: "svc", http: "GET /things/{id}/{n} | POST /things/{id}",
           response: "Resp", since: "3", max_body: "1048576") {
  id: string (required);
  n: long;
  mode: Mode = ON;
  old: int (deprecated);
  maybe: double = null;
}
table Other (service: "svc", http: "DELETE /things", response: "a.b.Resp") { x: bool = true; }
EOF
run good
if [ "$rc" -ne 0 ]; then
	echo "FAIL good: schemagen exited $rc"
	cat "$tmp/good.err"
	failures=$((failures + 1))
else
	for want in \
		'{.method = "GET", .path = "/things/{id}/{n}", .api_major = 3, .service = "svc", .request = 1, .response = 2, .max_body = 1048576}' \
		'{.method = "POST", .path = "/things/{id}", .api_major = 3,' \
		'{.method = "DELETE", .path = "/things", .api_major = 2, .service = "svc", .request = 0, .response = 2, .max_body = 0}' \
		'{.name = "maybe", .id = 4, .type = CN_FT_F64, .elem = CN_FT_NONE, .table = -1, .enum_index = -1, .flags = 2,' \
		'{.name = "old", .id = 3, .type = CN_FT_I32, .elem = CN_FT_NONE, .table = -1, .enum_index = -1, .flags = 4,' \
		'{.name = "mode", .id = 2, .type = CN_FT_I32, .elem = CN_FT_NONE, .table = -1, .enum_index = 0, .flags = 0, .def_int = 1,'; do
		if ! grep -qF -- "$want" "$tmp/good.c"; then
			echo "FAIL good: cairn_schema.c lacks: $want"
			failures=$((failures + 1))
		fi
	done
	for want in \
		'static inline bool cn_Other_x(cn_fb_table t) { return cn_fb_get_u8(t, 0, 1) != 0; }' \
		'static inline int32_t cn_Req_mode(cn_fb_table t) { return cn_fb_get_i32(t, 2, (int32_t)1); }' \
		'#define CN_Mode_OFF 2' \
		'#define CN_TABLE_Req 1'; do
		if ! grep -qF -- "$want" "$tmp/good.h"; then
			echo "FAIL good: cairn_schema.h lacks: $want"
			failures=$((failures + 1))
		fi
	done
	mkdir -p "$tmp/inc/schemas"
	cp "$tmp/good.h" "$tmp/inc/schemas/cairn_schema.h"
	if ! "$cc" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
		-Wmissing-prototypes -Wformat=2 -Wvla -I"$root" -I"$tmp/inc" \
		-c "$tmp/good.c" -o "$tmp/good.o"; then
		echo "FAIL good: generated C does not compile"
		failures=$((failures + 1))
	fi
	if grep -qF 'cn_Req_old' "$tmp/good.h"; then
		echo "FAIL good: deprecated field has accessors"
		failures=$((failures + 1))
	fi
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures schemagen check(s) failed"
	exit 1
fi
echo "schemagen: all checks passed"
