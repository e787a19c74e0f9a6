#!/usr/bin/env bash
# `make install` and `make uninstall` into staging directories (DESTDIR), as a user would package
# dadar: what lands where and with which mode, the PREFIX written into the installed copies, an
# existing /etc/dadar/dadar.conf left alone, the installed binaries running, the man pages rendering
# without a warning and naming every option their binary's --help lists, the installed example
# configuration parsed by the installed dadar, and the unit checked by `systemd-analyze verify`.
#
# usage: B=<build dir> tests/integration/install_test.sh   (from anywhere; B defaults to build)
#
# Builds nothing: the binaries in $B must be built (make -o keeps make install from rebuilding
# them). Prints PASS/FAIL/SKIP per check; exits 0 if every check that ran passed, 1 if one failed,
# 77 if the test cannot run at all (no binaries, no make or install). Scratch files go to a
# directory under $B/it, removed after a clean run and kept (the path is printed) after a failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${B:-build}
BINS="dadar dadar-gen dadar-journal dadar-lat dadar-rules dadar-tail"
PAGES1="dadar.1 dadar-gen.1 dadar-journal.1 dadar-lat.1 dadar-rules.1 dadar-tail.1"
PAGES5="dadar.conf.5"
# The make that runs this test must not hand its flags (a jobserver, V=) to the one we run.
unset MAKEFLAGS MFLAGS MAKELEVEL

for tool in make install sed cmp; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "  SKIP  install_test: '$tool' is not installed"
		exit 77
	fi
done
keep_old=()
for b in $BINS; do
	if [ ! -x "$B/$b" ]; then
		echo "  SKIP  install_test: $B/$b is not built (run make B=$B)"
		exit 77
	fi
	keep_old+=(-o "$B/$b")
done

mkdir -p "$B/it" || exit 1
tmp=$(mktemp -d "$B/it/install.XXXXXX") || exit 1
tmp=$(cd "$tmp" && pwd)
prefix="inst$$"
failed=0
pass() { echo "  PASS  $*"; }
fail() { echo "  FAIL  $*"; failed=1; }
skip() { echo "  SKIP  $*"; }
cleanup() {
	rm -f "/dev/shm/dadar-$prefix"
	# EAL leaves its runtime directory behind, even with --no-shconf
	if [ "$(id -u)" = 0 ]; then rm -rf "/var/run/dpdk/$prefix"; else rm -rf "${XDG_RUNTIME_DIR:-/tmp}/dpdk/$prefix"; fi
}
trap cleanup EXIT

# make install (or uninstall) into $1 with the remaining arguments; its output goes to $1.log
run_make() {
	local dest=$1 target=$2
	shift 2
	make --no-print-directory B="$B" "${keep_old[@]}" "$target" DESTDIR="$dest" "$@" >"$dest.$target.log" 2>&1
}

# ---- PREFIX=/usr into a stage holding a dadar.conf of its own ---------------------------------
stage=$tmp/usr-stage
mkdir -p "$stage/etc/dadar"
echo "# the administrator's own configuration: install must not touch it" > "$stage/etc/dadar/dadar.conf"
cp "$stage/etc/dadar/dadar.conf" "$tmp/dadar.conf.orig"
if run_make "$stage" install PREFIX=/usr; then
	pass "make install DESTDIR=... PREFIX=/usr (no root needed)"
else
	fail "make install DESTDIR=... PREFIX=/usr failed: $(tail -3 "$stage.install.log")"
	echo "install_test: scratch files kept in $tmp"
	exit 1
fi

# every file it should install, with its mode
want=()
for b in $BINS; do want+=("0755 usr/bin/$b"); done
for p in $PAGES1; do want+=("0644 usr/share/man/man1/$p"); done
for p in $PAGES5; do want+=("0644 usr/share/man/man5/$p"); done
want+=("0644 usr/share/dadar/rules/fraud-paytm.rules" "0644 usr/share/dadar/rules/fraud-upi.rules" "0644 usr/share/dadar/rules/market.rules"
	"0644 etc/dadar/dadar.conf.example" "0644 lib/systemd/system/dadar.service")
bad=""
for w in "${want[@]}"; do
	mode=${w%% *} path=${w#* }
	if [ ! -f "$stage/$path" ]; then
		bad="$bad missing:$path"
	elif [ "$(stat -c %a "$stage/$path")" != "${mode#0}" ]; then
		bad="$bad $path:mode=$(stat -c %a "$stage/$path"),want=${mode#0}"
	fi
done
[ -z "$bad" ] && pass "the ${#want[@]} files are installed with their modes (binaries 0755, the rest 0644)" ||
	fail "installed files:$bad"

# nothing else, and nothing writable by group or others
extra=$(cd "$stage" && find . -type f ! -path ./etc/dadar/dadar.conf | sed 's|^\./||' | sort |
	comm -23 - <(printf '%s\n' "${want[@]}" | sed 's/^[0-9]* //' | sort))
[ -z "$extra" ] && pass "nothing else is installed" || fail "unexpected files installed: $extra"
writable=$(find "$stage" -perm /022 ! -type l)
[ -z "$writable" ] && pass "no installed file or directory is group- or world-writable" ||
	fail "group- or world-writable: $writable"

cmp -s rules/fraud-paytm.rules "$stage/usr/share/dadar/rules/fraud-paytm.rules" &&
	cmp -s rules/fraud-upi.rules "$stage/usr/share/dadar/rules/fraud-upi.rules" &&
	pass "the rule files are the shipped ones" || fail "the installed rule files differ from rules/"

cmp -s "$tmp/dadar.conf.orig" "$stage/etc/dadar/dadar.conf" &&
	pass "an existing /etc/dadar/dadar.conf is left as it was" || fail "make install changed /etc/dadar/dadar.conf"

# the unit and the pages name the installed paths (PREFIX=/usr), not the default prefix
unit=$stage/lib/systemd/system/dadar.service
if grep -q '^ExecStart=/usr/bin/dadar .* -- --config /etc/dadar/dadar.conf$' "$unit" &&
	! grep -rq '/usr/local/' "$unit" "$stage/usr/share/man" "$stage/etc/dadar/dadar.conf.example"; then
	pass "PREFIX=/usr is written into the unit, the man pages and the example (ExecStart=/usr/bin/dadar)"
else
	fail "the installed unit or pages do not name PREFIX=/usr paths: $(grep -n '^ExecStart=\|/usr/local/' "$unit" | head -3)"
fi

# the installed binaries run
for b in $BINS; do
	out=$("$stage/usr/bin/$b" --version 2>&1)
	rc=$?
	if [ $rc = 0 ] && [[ $out == "$b "[0-9]* ]]; then
		pass "$b --version: $out"
	else
		fail "$b --version exited $rc: $out"
	fi
done

# the man pages render without a warning (groff -ww), and through man(1) when it is there
if command -v groff >/dev/null 2>&1; then
	for p in $PAGES1 $PAGES5; do
		sec=${p##*.}
		f=$stage/usr/share/man/man$sec/$p
		warn=$(groff -man -Tutf8 -ww -z "$f" 2>&1)
		if [ -z "$warn" ] && command -v man >/dev/null 2>&1; then
			warn=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
		fi
		[ -z "$warn" ] && pass "man page $p renders without a warning" || fail "man page $p: $warn"
	done
else
	skip "man pages: groff is not installed (apt-get install groff-base)"
fi

# each page names every option its binary's --help lists
for b in $BINS; do
	missing=$(comm -23 <("$stage/usr/bin/$b" --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u) \
		<(grep -oE -- '\\-\\-[a-z][a-z0-9\\-]*' "$stage/usr/share/man/man1/$b.1" | sed 's/\\-/-/g' | sort -u) | tr '\n' ' ')
	[ -z "$missing" ] && pass "$b.1 names every option of $b --help" || fail "$b.1 lacks options of $b --help: $missing"
done

# the installed example configuration parses with the installed dadar, its own keys taking effect
# (its /var/lib/dadar paths moved here), and so does the same file with every default uncommented
run=$tmp/run
mkdir -p "$run"
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' >"$run/empty.pcap"
sed "s|/var/lib/dadar|$run|" "$stage/etc/dadar/dadar.conf.example" >"$run/example.conf"
sed -E 's/^#([a-z][a-z_.]* = )/\1/' "$run/example.conf" >"$run/defaults.conf"
eal=(--no-huge --no-pci -m 512 --no-shconf --no-telemetry --file-prefix "$prefix" "--log-level=*:warning"
	--lcores '(0-1)@(0)' --vdev "net_pcap0,rx_pcap=$run/empty.pcap")
for conf in example defaults; do
	rm -rf "$run/journal" "$run/outputs.jsonl" "$run/summary.json" "$run/book.csv"
	out=$(timeout -s TERM 60 "$stage/usr/bin/dadar" "${eal[@]}" -- --config "$run/$conf.conf" \
		--instance "$prefix" --exit-on-idle 100 --quiet 2>&1)
	rc=$?
	if [ $rc = 1 ] && [[ $out == *"DPDK initialisation failed"* ]]; then
		skip "dadar.conf.example ($conf): DPDK cannot start here: $(echo "$out" | tail -1)"
	elif [ $rc = 0 ] && [ -d "$run/journal" ] && [ -f "$run/outputs.jsonl" ] && [ -f "$run/summary.json" ] &&
		[ -f "$run/book.csv" ]; then
		pass "dadar.conf.example ($conf) is read by the installed dadar: journal, output, summary, book dump written"
	else
		fail "dadar.conf.example ($conf): dadar exited $rc: $(echo "$out" | tail -2)"
	fi
done
# ... and names every key dadar --help lists (set, at its default, or as an example)
missing=$(comm -23 <("$stage/usr/bin/dadar" --help | awk '$3 == "default" {print $1}' | sort -u) \
	<(sed -nE 's/^#? *([a-z][a-z_.]*) *=.*/\1/p' "$stage/etc/dadar/dadar.conf.example" | sort -u) | tr '\n' ' ')
[ -z "$missing" ] && pass "dadar.conf.example names every key of dadar --help" ||
	fail "dadar.conf.example lacks keys of dadar --help: $missing"

# systemd-analyze verify: the unit as installed, its ExecStart pointed at the staged binary (the
# only path that is not on this machine) and man(1) at the staged pages; any message is a failure
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$tmp/verify"
	sed "s|=/usr/bin/dadar |=$stage/usr/bin/dadar |" "$unit" >"$tmp/verify/dadar.service"
	out=$(cd "$tmp/verify" && MANPATH=$stage/usr/share/man systemd-analyze verify "$tmp/verify/dadar.service" 2>&1)
	rc=$?
	[ $rc = 0 ] && [ -z "$out" ] && pass "systemd-analyze verify dadar.service: no message" ||
		fail "systemd-analyze verify dadar.service (exit $rc): $out"
else
	skip "systemd-analyze verify: systemd-analyze is not installed (Debian package systemd)"
fi

# a second install over the first changes nothing it should not
if run_make "$stage" install PREFIX=/usr && cmp -s "$tmp/dadar.conf.orig" "$stage/etc/dadar/dadar.conf"; then
	pass "a second make install succeeds and still leaves dadar.conf alone"
else
	fail "a second make install failed or changed dadar.conf: $(tail -2 "$stage.install.log")"
fi

# make uninstall removes what install put there and keeps dadar.conf
if run_make "$stage" uninstall PREFIX=/usr; then
	left=$(cd "$stage" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ')
	dirs=$(cd "$stage" && find usr/share/dadar etc/dadar -type d 2>/dev/null | tr '\n' ' ')
	if [ "$left" = "etc/dadar/dadar.conf " ] && [ "$dirs" = "etc/dadar " ] &&
		cmp -s "$tmp/dadar.conf.orig" "$stage/etc/dadar/dadar.conf"; then
		pass "make uninstall removes every installed file and keeps dadar.conf"
	else
		fail "after make uninstall: files left: $left; directories: $dirs"
	fi
else
	fail "make uninstall failed: $(tail -3 "$stage.uninstall.log")"
fi

# ---- the default PREFIX (/usr/local): the unit beside the other files, named accordingly -------
stage=$tmp/local-stage
if run_make "$stage" install &&
	[ -x "$stage/usr/local/bin/dadar" ] && [ -f "$stage/usr/local/share/man/man1/dadar.1" ] &&
	[ -f "$stage/etc/dadar/dadar.conf.example" ] &&
	grep -q '^ExecStart=/usr/local/bin/dadar ' "$stage/usr/local/lib/systemd/system/dadar.service"; then
	pass "default PREFIX: /usr/local/bin, /usr/local/lib/systemd/system/dadar.service, /etc/dadar"
else
	fail "default PREFIX install: $(tail -2 "$stage.install.log"); $(cd "$stage" 2>/dev/null && find . -name dadar.service)"
fi
if grep -q 'dadar.conf does not exist yet' "$stage.install.log"; then
	pass "install says /etc/dadar/dadar.conf is still to be written"
else
	fail "install did not say that /etc/dadar/dadar.conf is missing"
fi
if run_make "$stage" uninstall && [ -z "$(find "$stage" -type f)" ] && [ ! -e "$stage/etc/dadar" ]; then
	pass "default PREFIX: make uninstall leaves no file (and no /etc/dadar)"
else
	fail "default PREFIX uninstall: left $(find "$stage" -type f | tr '\n' ' ')"
fi

if [ $failed = 0 ]; then
	rm -rf "$tmp"
	exit 0
fi
echo "install_test: scratch files kept in $tmp"
exit 1
