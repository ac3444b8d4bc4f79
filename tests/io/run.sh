#!/bin/sh
# tests/io/run.sh KAIROS -- files, streams and signals (SPEC.md section 6,
# "Output files" and "Inputs"; section 5.1 for .gz):
#   - output: regular files replaced atomically, devices and FIFOs written in
#     place (never renamed over), symbolic links followed, directories refused;
#   - every input read once: a policy from a pipe or standard input;
#   - strict .gz: truncated, not gzip, garbage after, bad checksum;
#   - write errors on standard output for every command;
#   - temporary files removed on SIGINT, SIGTERM, SIGHUP, and an SQLite
#     database -o created with its journal; a stale one left by SIGKILL is
#     harmless;
#   - a .kbc file holds bytecode; messages name the file and the place;
#   - the CSV record and JSON Lines line limits, the same whatever ends
#     the record or the line.
# Prints one line per failure, then "io: N passed, M failed".
set -u
[ $# -ge 1 ] || { echo "usage: run.sh KAIROS" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib.sh"
KT_FAIL="io " KT_LINES=5
kt_begin io "$1"
W=$TMP
# every run has a time limit: a regression that waits forever (a FIFO read
# twice, a lost signal) fails instead of hanging
TMO=""
command -v timeout >/dev/null 2>&1 && TMO="timeout 60"
K() { $TMO "$KAIROS" "$@"; }


# run NAME STATUS PATTERN CMD... -- CMD (a shell command, run in $W) exits
# with STATUS and its standard error matches PATTERN (grep -E; "" for any).
run() {
    name=$1 want=$2 pat=$3
    shift 3
    (cd "$W" && eval "$*") >"$W/.out" 2>"$W/.err" </dev/null
    st=$?
    if [ "$st" != "$want" ]; then bad "$name: exit status $st, expected $want" "$W/.err"
    elif [ -n "$pat" ] && ! grep -q -E -- "$pat" "$W/.err"; then bad "$name: no message /$pat/" "$W/.err"
    else ok
    fi
}
# check NAME CONDITION -- a shell test, run in $W.
check() {
    if (cd "$W" && eval "$2"); then ok; else bad "$1: not ($2)"; fi
}

EX="$ROOT/examples/ab-timing"
cp "$EX/policy.kai" "$W/p.kai"
cp "$EX/policy.kai" "$W/policy.kai"
cp "$EX/events.csv" "$W/events.csv"
cp "$EX/events.csv" "$W/ev.csv"
cp "$EX/expected.csv" "$W/expected.csv"
cp "$EX/ab-timing.test.yaml" "$W/t.test.yaml"
(cd "$W" && K compile p.kai -o ref.kbc) || bad "setup: compile"
{ head -1 "$W/ev.csv"; tail -n +2 "$W/ev.csv" | sort -r; } >"$W/unsorted.csv"

# ---- 1. output files ----------------------------------------------------------

# A FIFO is written in place and stays a FIFO (a rename would replace it).
mkfifo "$W/fifo"
(cd "$W" && $TMO cat fifo >got.kbc) &
run out-fifo-compile 0 "" 'K compile p.kai -o fifo'
wait
check out-fifo-compile-still-fifo '[ -p fifo ]'
check out-fifo-compile-bytes 'cmp -s got.kbc ref.kbc'
(cd "$W" && $TMO cat fifo >got.csv) &
run out-fifo-simulate 0 "" 'K simulate --no-progress p.kai ev.csv -o fifo'
wait
check out-fifo-simulate-still-fifo '[ -p fifo ]'
check out-fifo-simulate-rows 'cmp -s got.csv expected.csv'
# fmt -w of a FIFO (or a device) is refused before it is read: its text
# would be gone, and writing it back waited for a reader forever
mkfifo "$W/fmt-fifo.kai"
run fmt-w-fifo 1 '^fmt-fifo.kai: error: -w rewrites regular files only; this is a FIFO$' 'K fmt -w fmt-fifo.kai'
check fmt-w-fifo-still-fifo '[ -p fmt-fifo.kai ]'
run fmt-w-device 1 '^/dev/null: error: -w rewrites regular files only; this is a device$' 'K fmt -w /dev/null'
# a failed replay writes nothing to a FIFO (held back, like standard output)
printf 'time,customer,event\nnot-a-time,a,purchase\n' >"$W/badrow.csv"
(cd "$W" && $TMO cat fifo >got2.csv) &
run out-fifo-failed 1 'badrow.csv:2:1: error: bad time' 'K simulate --no-progress p.kai badrow.csv -o fifo'
wait
check out-fifo-failed-empty '[ ! -s got2.csv ]'
(cd "$W" && $TMO cat fifo >got.xml) &
run out-fifo-junit 0 "" 'K test --format junit -o fifo t.test.yaml'
wait
check out-fifo-junit-still-fifo '[ -p fifo ]'
check out-fifo-junit-xml 'grep -q "<testsuites" got.xml'

(cd "$W" && K simulate --no-progress --shard 0/2 p.kai ev.csv -o s0.csv && K simulate --no-progress --shard 1/2 p.kai ev.csv -o s1.csv) || bad "setup: shards"
(cd "$W" && $TMO cat fifo >got-merge.csv) &
run out-fifo-merge 0 "" 'K merge p.kai s0.csv s1.csv -o fifo'
wait
check out-fifo-merge-still-fifo '[ -p fifo ]'
check out-fifo-merge-rows 'cmp -s got-merge.csv expected.csv'

(cd "$W" && K readout --format csv p.kai ev.csv >readout-ref.csv) || bad "setup: readout"
(cd "$W" && $TMO cat fifo >got-readout.csv) &
run out-fifo-readout 0 "" 'K readout --format csv p.kai ev.csv -o fifo'
wait
check out-fifo-readout-still-fifo '[ -p fifo ] && cmp -s got-readout.csv readout-ref.csv'

# A device: written in place, never replaced.
run out-devnull-compile 0 "" 'K compile p.kai -o /dev/null'
check out-devnull-still-device '[ -c /dev/null ]'
run out-devfull-compile 1 '^/dev/full: error: write error: No space left on device$' 'K compile p.kai -o /dev/full'
run out-devfull-simulate 1 '^/dev/full: error: write error: No space left on device$' 'K simulate --no-progress p.kai ev.csv -o /dev/full'
run out-devfull-junit 1 '^/dev/full: error: write error: No space left on device$' 'K test --format junit -o /dev/full t.test.yaml'
run out-devfull-merge 1 '^/dev/full: error: write error: No space left on device$' 'K merge p.kai s0.csv s1.csv -o /dev/full'
check out-devfull-still-device '[ -c /dev/full ]'

# A directory is an error, and nothing is created in it.
mkdir "$W/dir"
run out-dir-compile 1 '^dir: error: cannot write: Is a directory$' 'K compile p.kai -o dir'
run out-dir-simulate 1 '^dir: error: cannot write: Is a directory$' 'K simulate --no-progress p.kai ev.csv -o dir'
run out-dir-junit 1 '^dir/: error: cannot write: Is a directory$' 'K test --format junit -o dir/ t.test.yaml'
run out-dir-diff 1 '^dir: error: cannot write: Is a directory$' 'K diff p.kai p.kai ev.csv -o dir'
run out-dir-readout 1 '^dir: error: cannot write: Is a directory$' 'K readout p.kai ev.csv -o dir'
run out-dir-merge 1 '^dir: error: cannot write: Is a directory$' 'K merge p.kai s0.csv s1.csv -o dir'
check out-dir-empty '[ -z "$(ls -A dir)" ]'

# A read-only file (no write bit, or not writable by its user) is not replaced by a
# rename: the error is the one an in-place write would give, and the file stays.
printf 'old\n' >"$W/ro.kbc"; chmod 444 "$W/ro.kbc"
run out-readonly-compile 1 '^ro.kbc: error: cannot write: Permission denied \(it is read-only: chmod u\+w to replace it\)$' 'K compile p.kai -o ro.kbc'
printf 'policy "x"\nask NPS   after purchase\n' >"$W/ro.kai"; chmod 444 "$W/ro.kai"
run out-readonly-fmt 1 '^ro.kai: error: cannot write: Permission denied \(it is read-only: chmod u\+w to replace it\)$' 'K fmt -w ro.kai'
check out-readonly-kept '[ "$(cat ro.kbc)" = old ] && grep -q "NPS   after" ro.kai && [ -z "$(ls -A | grep "\.tmp\.")" ]'
chmod 644 "$W/ro.kbc" "$W/ro.kai"

# A symbolic link to a regular file: the target is replaced, the link kept.
printf 'old\n' >"$W/target.kbc"
ln -s target.kbc "$W/link.kbc"
run out-symlink 0 "" 'K compile p.kai -o link.kbc'
check out-symlink-kept '[ -L link.kbc ]'
check out-symlink-target 'cmp -s target.kbc ref.kbc'
# ... through two links, one of them relative to its directory
mkdir "$W/sub"
printf 'old\n' >"$W/sub/t2.csv"
ln -s t2.csv "$W/sub/l2.csv"
ln -s sub/l2.csv "$W/l1.csv"
run out-symlink-chain 0 "" 'K simulate --no-progress p.kai ev.csv -o l1.csv'
check out-symlink-chain-target '[ -L l1.csv ] && [ -L sub/l2.csv ] && cmp -s sub/t2.csv expected.csv'
# a dangling link: its target is created
ln -s new-target.kbc "$W/dangling.kbc"
rm -f "$W/t3.csv"; ln -s t3.csv "$W/l3.csv"
run out-symlink-merge 0 "" 'K merge p.kai s0.csv s1.csv -o l3.csv'
check out-symlink-merge-target '[ -L l3.csv ] && cmp -s t3.csv expected.csv'
run out-symlink-dangling 0 "" 'K compile p.kai -o dangling.kbc'
check out-symlink-dangling-created '[ -L dangling.kbc ] && cmp -s new-target.kbc ref.kbc'
# fmt -w through a link
printf 'policy "x"\nask NPS   after purchase\n' >"$W/fmt-target.kai"
ln -s fmt-target.kai "$W/fmt-link.kai"
run out-fmt-w-symlink 0 "" 'K fmt -w fmt-link.kai'
check out-fmt-w-symlink-kept '[ -L fmt-link.kai ] && grep -q "^ask NPS after purchase" fmt-target.kai'

# An existing file's permissions are kept; a new file gets 0666 less the umask.
cp "$W/ref.kbc" "$W/mode.kbc"
chmod 640 "$W/mode.kbc"
run out-mode-kept 0 "" 'K compile p.kai -o mode.kbc'
check out-mode-kept-640 '[ "$(stat -c %a mode.kbc)" = 640 ]'
run out-mode-new 0 "" 'umask 027; K compile p.kai -o fresh.kbc'
check out-mode-new-640 '[ "$(stat -c %a fresh.kbc)" = 640 ]'

# /dev/stdout is the open standard output, in append mode too: not renamed
# over, not truncated.
run out-dev-stdout 0 "" '{ echo first; K compile p.kai -o /dev/stdout; } >>appended'
check out-dev-stdout-appended '[ "$(head -1 appended)" = first ] && tail -c +7 appended | cmp -s - ref.kbc'
run out-dev-stdout-simulate 0 "" 'K simulate --no-progress p.kai ev.csv -o /dev/stdout >sim-stdout.csv'
check out-dev-stdout-simulate-rows 'cmp -s sim-stdout.csv expected.csv'
# A log found unsorted at its last row makes the replay start over after
# rows were written: the temporary file starts over too.
awk 'BEGIN { print "time,customer,event"; for (i = 0; i < 4000; i++) printf "%d,c%d,purchase\n", 1772323200 + i * 60, i % 97; print "1772323200,late,purchase" }' >"$W/late.csv"
run out-restart 0 "" 'K simulate --no-progress p.kai late.csv -o restart.csv'
run out-restart-stdout 0 "" 'K simulate --no-progress p.kai late.csv >restart-stdout.csv'
check out-restart-rows 'cmp -s restart.csv restart-stdout.csv && grep -q ",late," restart.csv'
check out-no-temporary-left '! ls -a . sub | grep -q "\.tmp\."'

# An output that is also an input is refused before anything is written (bad
# usage): the schedule would replace the log it is made from.  The same file
# by its name, through a symbolic link, and for every command with -o.
cp "$W/ev.csv" "$W/keep.csv"
cp "$W/p.kai" "$W/keep.kai"
ln -s ev.csv "$W/ev-link.csv"
(cd "$W" && K simulate p.kai ev.csv --shard 0/2 -o sh0.csv && K simulate p.kai ev.csv --shard 1/2 -o sh1.csv) ||
    bad "setup: shards"
cp "$W/sh1.csv" "$W/keep-sh1.csv"
run out-is-input-simulate 2 '^kairos simulate: -o ev.csv is also an input: writing it would replace what is read$' \
    'K simulate p.kai ev.csv -o ev.csv'
run out-is-input-link 2 'is also an input \(ev.csv, the same file\)' 'K simulate p.kai ev.csv -o ev-link.csv'
run out-is-input-policy 2 'is also an input' 'K simulate p.kai ev.csv -o p.kai'
printf 'map: {}\n' >"$W/schema.yaml"
cp "$W/schema.yaml" "$W/keep-schema.yaml"
run out-is-input-schema 2 'is also an input' 'K simulate p.kai ev.csv --schema schema.yaml -o schema.yaml'
run out-is-input-compile 2 'is also an input' 'K compile p.kai -o p.kai'
# compile's default output: the input's name with .kbc; a pipe or a device has
# none (it wrote /dev/stdin.kbc), and a .kbc input would be its own output
run compile-default-dev 2 '^kairos compile: /dev/stdin is a pipe, a device or a descriptor, with no file name to put .kbc on: give -o FILE \(or -o -\)$' 'K compile /dev/stdin < p.kai'
run compile-default-fifo 2 'is a pipe, a device or a descriptor' 'cat p.kai | K compile /dev/fd/0'
run compile-default-self 2 '^kairos compile: the default output ref.kbc \(the input.s name with .kbc\) is the input itself: give -o FILE$' 'K compile ref.kbc'
run out-is-input-merge 2 'is also an input' 'K merge p.kai sh0.csv sh1.csv -o sh1.csv'
run out-is-input-diff 2 'is also an input' 'K diff p.kai p.kai ev.csv -o ev.csv'
run out-is-input-readout 2 'is also an input' 'K readout p.kai ev.csv -o p.kai'
run out-is-input-report 2 'is also an input' 'K report p.kai ev.csv -o ev.csv'
run out-is-input-test 2 'is also an input' 'K test --junit t.test.yaml t.test.yaml'
check out-is-input-intact 'cmp -s ev.csv keep.csv && cmp -s p.kai keep.kai && cmp -s sh1.csv keep-sh1.csv && cmp -s schema.yaml keep-schema.yaml && [ -L ev-link.csv ]'
run out-not-input 0 '' 'K simulate p.kai ev.csv -o fresh.csv && K simulate p.kai ev.csv -o fresh.csv'
# An event log given twice would replay every event twice: bad usage, by name,
# ./NAME or a link; the same rows in two different files are still two logs.
run log-twice 2 '^kairos simulate: ev.csv is given twice: its events would be replayed twice$' 'K simulate p.kai ev.csv ev.csv'
run log-twice-dot 2 '^kairos readout: ev.csv and ./ev.csv are the same file' 'K readout p.kai ev.csv ./ev.csv'
run log-twice-link 2 'ev.csv and ev-link.csv are the same file' 'K diff p.kai p.kai ev.csv ev-link.csv'
run log-twice-explain 2 'is given twice' 'K explain p.kai ev.csv ev.csv --customer c01'
# A database source is one source however its file is spelled: an SQLite
# file's table given twice, or -o into the table read, or into an input file.
run log-twice-sqlite 2 '^kairos simulate: sqlite:db.sqlite\?table=ev and sqlite:./db.sqlite\?table=ev are the same source: its events would be replayed twice$' 'touch db.sqlite && K simulate p.kai sqlite:db.sqlite?table=ev sqlite:./db.sqlite?table=ev'
run log-twice-postgres 2 'is given twice' 'K simulate p.kai "postgresql:///x?table=ev" "postgresql:///x?table=ev"'
run sqlite-two-tables 1 'cannot|error' 'K simulate p.kai sqlite:db.sqlite?table=ev sqlite:db.sqlite?table=ev2'
run out-is-input-sqlite 2 '^kairos simulate: -o sqlite:./db.sqlite\?table=ev is also an input \(sqlite:db.sqlite\?table=ev, the same source\)' 'K simulate p.kai sqlite:db.sqlite?table=ev -o sqlite:./db.sqlite?table=ev'
run out-is-input-sqlite-file 2 '^kairos simulate: -o sqlite:ev.csv\?table=s is also an input \(ev.csv, the same file\)' 'K simulate p.kai ev.csv -o sqlite:ev.csv?table=s'
# An infinite REAL of an SQLite table is a number (+-infinity), as the
# decimal 1e999 of a CSV cell is (SPEC 5.13, 5.4), not the string "inf":
# `amount > 1` holds for +infinity and not for -infinity, without the
# warning of values of another type.
printf 'policy "inf"\ncap 1 per 30d\nevent purchase { amount: number }\nrule r:\n  ask NPS via email\n  after purchase where amount > 1\n' >"$W/inf.kai"
run sqlite-real-infinity 0 '' 'sqlite3 inf.sqlite "CREATE TABLE ev(time TEXT, customer TEXT, event TEXT, amount REAL); INSERT INTO ev VALUES (\"2026-03-01T10:00:00Z\", \"a\", \"purchase\", 9e999), (\"2026-03-01T10:00:00Z\", \"b\", \"purchase\", -9e999)" && K simulate inf.kai "sqlite:inf.sqlite?table=ev" >inf.csv'
check sqlite-real-infinity-schedule '[ "$(cat inf.csv)" = "$(printf "time,customer,rule,action,survey,channel,attempt,variant\n2026-03-01T10:00:00Z,a,r,ask,NPS,email,1,")" ] && [ ! -s .err ]'
# other spellings of one SQLite table: another case, main., a file: URI; a
# query that reads the table -o writes (SQLite's authorizer tells)
run sqlite-table-case 2 '^kairos simulate: -o sqlite:inf.sqlite\?table=EV is also an input \(sqlite:inf.sqlite\?table=ev, the same source\)' 'K simulate inf.kai "sqlite:inf.sqlite?table=ev" -o "sqlite:inf.sqlite?table=EV"'
run sqlite-table-main 2 'is also an input' 'K simulate inf.kai "sqlite:inf.sqlite?table=ev" -o "sqlite:inf.sqlite?table=main.ev"'
run sqlite-file-uri 2 'is also an input' 'K simulate inf.kai "sqlite:inf.sqlite?table=ev" -o "sqlite:file:inf.sqlite?table=ev"'
run sqlite-file-uri-twice 2 '^kairos simulate: sqlite:inf.sqlite\?table=ev and sqlite:file:./inf.sqlite\?table=Ev are the same source' 'K simulate inf.kai "sqlite:inf.sqlite?table=ev" "sqlite:file:./inf.sqlite?table=Ev"'
run sqlite-query-reads-out 2 '^kairos simulate: -o sqlite:inf.sqlite\?table=ev is also an input \(sqlite:inf.sqlite\?query=SELECT \* FROM EV WHERE 1 reads that table\)' 'K simulate inf.kai "sqlite:inf.sqlite?query=SELECT * FROM EV WHERE 1" -o "sqlite:inf.sqlite?table=ev"'
run sqlite-query-other-table 0 '' 'K simulate inf.kai "sqlite:inf.sqlite?query=SELECT * FROM ev" -o "sqlite:inf.sqlite?table=sched"'
check sqlite-table-intact '[ "$(sqlite3 inf.sqlite "SELECT count(*) FROM ev")" = 2 ]'
# an SQLite query's parameter would be bound to NULL and match nothing
run sqlite-query-parameter 1 '^sqlite:inf.sqlite\?query=SELECT \* FROM ev WHERE customer = :c: error: query= holds a parameter \(:c\) that nothing binds' 'K simulate inf.kai "sqlite:inf.sqlite?query=SELECT * FROM ev WHERE customer = :c"'
run sqlite-query-parameter-q 1 'holds a parameter \(\?\)' 'K simulate inf.kai "sqlite:inf.sqlite?query=SELECT * FROM ev WHERE customer = ?"'
# reading never changes the database (SPEC 5.13): a query that writes is
# refused before it runs (sqlite3_stmt_readonly), also when the same file
# takes the schedule (-o opens it apart, read-write); VACUUM INTO, which
# SQLite would run on a read-only file, writes no file; the table keeps its rows
RO='error: query error: the statement writes \(a source is only read: query= must not change the database\)$'
run sqlite-query-delete-returning 1 "^sqlite:inf.sqlite\\?query=DELETE FROM ev RETURNING \\*: $RO" 'K simulate inf.kai "sqlite:inf.sqlite?query=DELETE FROM ev RETURNING *"'
run sqlite-query-insert-returning 1 "^sqlite:inf.sqlite\\?query=INSERT INTO ev VALUES \\(1, 2, 3, 4\\) RETURNING \\*: $RO" 'K simulate inf.kai "sqlite:inf.sqlite?query=INSERT INTO ev VALUES (1, 2, 3, 4) RETURNING *"'
run sqlite-query-with-delete 1 "^sqlite:inf.sqlite\\?query=WITH d AS \\(SELECT 1\\) DELETE FROM ev RETURNING \\*: $RO" 'K simulate inf.kai "sqlite:inf.sqlite?query=WITH d AS (SELECT 1) DELETE FROM ev RETURNING *"'
run sqlite-query-delete-out-same-file 1 "^sqlite:inf.sqlite\\?query=DELETE FROM ev RETURNING \\*: $RO" 'K simulate inf.kai "sqlite:inf.sqlite?query=DELETE FROM ev RETURNING *" -o "sqlite:inf.sqlite?table=sched2"'
run sqlite-query-vacuum-into 1 "$RO" 'K simulate inf.kai "sqlite:inf.sqlite?query=VACUUM INTO '"'"'copy.sqlite'"'"'"'
check sqlite-query-writes-nothing '[ "$(sqlite3 inf.sqlite "SELECT count(*) FROM ev")" = 2 ] && [ -z "$(sqlite3 inf.sqlite "SELECT name FROM sqlite_master WHERE name = '"'"'sched2'"'"'")" ] && [ ! -e copy.sqlite ]'
# a file name that is not UTF-8 stands in the report's page as U+FFFD: the
# page stays UTF-8 (iconv checks it)
run report-name-not-utf8 0 '' 'cp ev.csv "$(printf "ev\\377.csv")" && K report p.kai "$(printf "ev\\377.csv")" -o name.html'
check report-name-not-utf8-page 'grep -q "ev&#65533;.csv" name.html && iconv -f UTF-8 -t UTF-8 name.html >/dev/null'
# a table takes the schedule as CSV rows: another --format is bad usage,
# refused before anything is connected to or created
run out-table-jsonl 2 '^kairos simulate: -o names a database table, which takes the schedule as rows: only --format csv applies$' 'K simulate p.kai ev.csv --format jsonl -o sqlite:new.sqlite?table=s'
run out-table-json 2 'only --format csv applies' 'K simulate p.kai ev.csv --format json -o "postgresql://bob:secret@/nodb?host=/nonexistent&table=s"'
check out-table-jsonl-nothing '[ ! -e new.sqlite ]'
check out-is-input-sqlite-intact 'cmp -s ev.csv keep.csv && [ ! -s db.sqlite ]'
run log-copies 0 '' 'K simulate p.kai ev.csv keep.csv -o /dev/null'
# An output named for another format than the one written is bad usage, and
# nothing is created; an extension that names no format is any format's.
run ext-simulate 2 '^kairos simulate: -o s.jsonl names a jsonl file, but the output is csv \(--format chooses it, or another name\)$' 'K simulate p.kai ev.csv -o s.jsonl'
run ext-simulate-jsonl 2 'names a csv file, but the output is jsonl' 'K simulate p.kai ev.csv --format jsonl -o s.csv'
run ext-compile 2 'names a kai file, but the output is kbc \(name it .kbc\)' 'K compile p.kai -o other.kai'
run ext-diff 2 'names a csv file, but the output is text' 'K diff p.kai p.kai ev.csv -o d.csv'
run ext-readout 2 'names a json file, but the output is csv' 'K readout p.kai ev.csv --format csv -o r.json'
run ext-report 2 'names a csv file, but the output is html \(name it .html\)' 'K report p.kai ev.csv -o r.csv'
run ext-merge 2 'names a jsonl file, but the output is csv' 'K merge p.kai sh0.csv sh1.csv -o m.jsonl'
run ext-gzip 2 'names a gzip file, but the output is csv' 'K simulate p.kai ev.csv -o s.csv.gz'
check ext-nothing-created '[ ! -e s.csv.gz ] && [ ! -e m.jsonl ] && [ ! -e s.jsonl ] && [ ! -e s.csv ] && [ ! -e other.kai ] && [ ! -e d.csv ] && [ ! -e r.json ] && [ ! -e r.csv ]'
run ext-fine 0 '' 'K simulate p.kai ev.csv --format jsonl -o s.json && K simulate p.kai ev.csv -o S.CSV && K simulate p.kai ev.csv -o s.out && K diff p.kai p.kai ev.csv --format markdown -o d.md'

# ---- 2. every input read once ------------------------------------------------------

run in-policy-pipe 0 "" 'K compile "$(echo /dev/stdin)" -o piped.kbc <p.kai'
check in-policy-pipe-same 'cmp -s piped.kbc ref.kbc'
run in-policy-procsub 0 "" 'cat p.kai | K simulate --no-progress /dev/stdin ev.csv >sim-pipe.csv'
check in-policy-procsub-rows 'cmp -s sim-pipe.csv expected.csv'
run in-policy-dash 0 "" 'K simulate --no-progress - ev.csv <p.kai >sim-dash.csv'
check in-policy-dash-rows 'cmp -s sim-dash.csv expected.csv'
run in-policy-dash-compile 0 "" 'K compile - <p.kai >dash.kbc'
check in-policy-dash-compile-same 'cmp -s dash.kbc ref.kbc'
run in-policy-dash-kbc 0 "" 'K simulate --no-progress - ev.csv <ref.kbc >sim-dash-kbc.csv'
check in-policy-dash-kbc-rows 'cmp -s sim-dash-kbc.csv expected.csv'
run in-policy-stdin-name 1 '^<stdin>:2:' 'printf "policy \"x\"\nask NPS after\n" | K compile - -o x.kbc'
run in-stdin-twice 2 "standard input can be read once" 'K simulate - - <p.kai'
run in-check-dash 1 '^<stdin>:2:14: error: expected an event name' 'printf "policy \"x\"\nask NPS after\n" | K check --color=never -'
run in-check-dash-clean 0 "" 'K check - <p.kai'
run in-merge-dash 0 "" 'K merge - s0.csv s1.csv <p.kai >merged-dash.csv'
check in-merge-dash-rows 'cmp -s merged-dash.csv expected.csv'
run in-merge-dash-twice 2 "standard input can be read once" 'K merge - - s1.csv <p.kai'
run in-check-dash-twice 2 "standard input can be read once" 'K check - - <p.kai'
# an unsorted event log from a FIFO: read once (no second pass over it)
mkfifo "$W/ev-fifo.csv"
(cd "$W" && $TMO sh -c "cat unsorted.csv >ev-fifo.csv") &
run in-events-fifo-unsorted 0 "" 'K simulate --no-progress p.kai ev-fifo.csv >sim-fifo.csv'
wait
check in-events-fifo-unsorted-rows 'cmp -s sim-fifo.csv expected.csv'

# ---- 3. .gz logs ----------------------------------------------------------------
# a log of 4000 rows; its halves as two gzip members
awk 'BEGIN { print "time,customer,event"; for (i = 0; i < 4000; i++) printf "%d,c%d,purchase\n", 1772323200 + i * 60, i % 97 }' >"$W/big.csv"
head -2001 "$W/big.csv" | gzip -c >"$W/half1.gz"
tail -n +2002 "$W/big.csv" | gzip -c >"$W/half2.gz"
cat "$W/half1.gz" "$W/half2.gz" >"$W/multi.csv.gz"
gzip -c "$W/big.csv" >"$W/big.csv.gz"
(cd "$W" && K simulate --no-progress p.kai big.csv >big-ref.csv)
run gz-single 0 "" 'K simulate --no-progress p.kai big.csv.gz >big-gz.csv'
check gz-single-rows 'cmp -s big-gz.csv big-ref.csv'
run gz-multi-member 0 "" 'K simulate --no-progress p.kai multi.csv.gz >big-multi.csv'
check gz-multi-member-rows 'cmp -s big-multi.csv big-ref.csv'
# cut at a row boundary: the first member whole, the second cut in its header
n1=$(wc -c <"$W/half1.gz")
head -c $((n1 + 5)) "$W/multi.csv.gz" >"$W/cut-row.csv.gz"
run gz-cut-row-boundary 1 '^cut-row.csv.gz: error: truncated gzip file' 'K simulate --no-progress p.kai cut-row.csv.gz'
n=$(wc -c <"$W/big.csv.gz")
head -c $((n / 2)) "$W/big.csv.gz" >"$W/cut-mid.csv.gz"
run gz-cut-middle 1 '^cut-mid.csv.gz: error: truncated gzip file' 'K simulate --no-progress p.kai cut-mid.csv.gz'
head -c $((n - 8)) "$W/big.csv.gz" >"$W/no-trailer.csv.gz"
run gz-no-trailer 1 '^no-trailer.csv.gz: error: truncated gzip file' 'K simulate --no-progress p.kai no-trailer.csv.gz'
head -c $((n - 3)) "$W/big.csv.gz" >"$W/part-trailer.csv.gz"
run gz-part-trailer 1 '^part-trailer.csv.gz: error: truncated gzip file' 'K simulate --no-progress p.kai part-trailer.csv.gz'
{ cat "$W/big.csv.gz"; printf 'garbage'; } >"$W/garbage.csv.gz"
run gz-garbage-after 1 "^garbage.csv.gz: error: unexpected bytes after the end of the gzip data at byte $n\$" 'K simulate --no-progress p.kai garbage.csv.gz'
{ cat "$W/big.csv.gz"; printf '\037'; } >"$W/garbage1.csv.gz"
run gz-one-byte-after 1 "^garbage1.csv.gz: error: unexpected bytes after the end" 'K simulate --no-progress p.kai garbage1.csv.gz'
gzip -c "$W/big.csv.gz" >"$W/twice.csv.gz"     # compressed twice: named, not read as a bad header
run gz-twice 1 '^twice.csv.gz:1: error: gzip data inside the gzip data \(compressed twice\?\)' 'K simulate --no-progress p.kai twice.csv.gz'
cp "$W/big.csv" "$W/plain.csv.gz"
run gz-not-gzip 1 '^plain.csv.gz: error: not a gzip file$' 'K simulate --no-progress p.kai plain.csv.gz'
: >"$W/empty.csv.gz"
run gz-empty 1 '^empty.csv.gz: error: not a gzip file$' 'K simulate --no-progress p.kai empty.csv.gz'
# a damaged CRC-32 (the trailer's first 4 bytes)
cp "$W/big.csv.gz" "$W/crc.csv.gz"
printf '\000\000\000\000' | dd of="$W/crc.csv.gz" bs=1 seek=$((n - 8)) conv=notrunc 2>/dev/null
run gz-bad-checksum 1 '^crc.csv.gz: error: bad gzip data: incorrect data check$' 'K simulate --no-progress p.kai crc.csv.gz'
# a damaged block
cp "$W/big.csv.gz" "$W/block.csv.gz"
printf '\377\377\377\377\377\377' | dd of="$W/block.csv.gz" bs=1 seek=20 conv=notrunc 2>/dev/null
run gz-bad-block 1 '^block.csv.gz(: error: bad gzip data|:[0-9]+)' 'K simulate --no-progress p.kai block.csv.gz'
# the read-ahead (a thread inflating ahead of the parser, SPEC 5.1): a log of
# many of its blocks, whole, with a bad row near the end, with rows skipped,
# cut short, and from a FIFO (no read-ahead): output and messages the same
# as on one thread (--jobs 1) and as from the plain file
awk 'BEGIN { print "time,customer,event"; for (i = 0; i < 150000; i++) printf "%d,c%d,purchase\n", 1772323200 + i * 60, (i * 7919) % 997 }' >"$W/ahead.csv"
gzip -c "$W/ahead.csv" >"$W/ahead.csv.gz"
(cd "$W" && K simulate --no-progress p.kai ahead.csv >ahead-ref.csv) || bad "setup: ahead.csv"
run gz-ahead 0 "" 'K simulate --no-progress p.kai ahead.csv.gz >ahead-gz.csv'
check gz-ahead-rows 'cmp -s ahead-gz.csv ahead-ref.csv && [ -s ahead-ref.csv ]'
# a damaged byte inside the data (stored blocks: the first comma of line
# 20001 becomes a semicolon): the text fails to parse long before the
# checksum at the end shows the damage, which is the error reported, on one
# thread and with read-ahead
/usr/bin/python3 - "$W/ahead.csv" "$W/damaged.csv.gz" <<'PY' || bad "setup: damaged.csv.gz"
import gzip, sys
text = open(sys.argv[1], "rb").read()
z = bytearray(gzip.compress(text, compresslevel=0, mtime=0))
at = text.index(b",", sum(len(l) + 1 for l in text.split(b"\n")[:20000]))
i = z.find(text[at - 40:at + 40]) + 40     # stored: the text's bytes as they are
z[i] = ord(";")
open(sys.argv[2], "wb").write(z)
PY
for j in 1 2; do
    run gz-damaged-text-j$j 1 '^damaged.csv.gz: error: bad gzip data: incorrect data check' \
        "K simulate --no-progress --jobs $j p.kai damaged.csv.gz 2>damaged-$j.err; st=\$?; cat damaged-$j.err >&2; exit \$st"
done
check gz-damaged-text-line 'grep -q "the file is damaged (its text had already failed to read at line 20001)" damaged-1.err && cmp -s damaged-1.err damaged-2.err'
{ head -149000 "$W/ahead.csv"; echo '1772323200,,purchase'; tail -n +149001 "$W/ahead.csv"; } | gzip -c >"$W/ahead-bad.csv.gz"
for j in 1 2; do
    run gz-ahead-bad-row-j$j 1 '^ahead-bad.csv.gz:149001:12: error: missing customer' \
        "K simulate --no-progress --jobs $j p.kai ahead-bad.csv.gz >/dev/null 2>ahead-bad-$j.err; st=\$?; cat ahead-bad-$j.err >&2; exit \$st"
    run gz-ahead-skip-j$j 0 'skipped 1 bad row' \
        "K simulate --no-progress --skip-bad-rows --jobs $j p.kai ahead-bad.csv.gz >ahead-skip-$j.csv 2>ahead-skip-$j.err; cat ahead-skip-$j.err >&2"
    run gz-ahead-cut-j$j 1 '^ahead-cut.csv.gz: error: truncated gzip file' \
        "head -c 200000 ahead.csv.gz >ahead-cut.csv.gz; K simulate --no-progress --jobs $j p.kai ahead-cut.csv.gz 2>ahead-cut-$j.err; st=\$?; cat ahead-cut-$j.err >&2; exit \$st"
done
check gz-ahead-bad-row-same 'cmp -s ahead-bad-1.err ahead-bad-2.err'
check gz-ahead-skip-same 'cmp -s ahead-skip-1.csv ahead-skip-2.csv && cmp -s ahead-skip-1.err ahead-skip-2.err && [ -s ahead-skip-1.csv ]'
check gz-ahead-cut-same 'cmp -s ahead-cut-1.err ahead-cut-2.err'
mkfifo "$W/ahead-fifo.csv.gz"
(cd "$W" && $TMO sh -c "cat ahead.csv.gz >ahead-fifo.csv.gz") &
run gz-ahead-fifo 0 "" 'K simulate --no-progress p.kai ahead-fifo.csv.gz >ahead-fifo.csv'
wait
check gz-ahead-fifo-rows 'cmp -s ahead-fifo.csv ahead-ref.csv'
# a JSON Lines log, gzip'ed and truncated
printf '{"time":1,"customer":"a","event":"purchase"}\n' | gzip -c | head -c 20 >"$W/cut.jsonl.gz"
run gz-jsonl-cut 1 '^cut.jsonl.gz: error: truncated gzip file' 'K simulate --no-progress p.kai cut.jsonl.gz'

# ---- 4. write errors on standard output --------------------------------------------
FULL='^kairos: error writing standard output: No space left on device$'
CLOSED='^kairos: error writing standard output: Bad file descriptor$'
printf 'policy "x"\nask NPS   after purchase\n' >"$W/unformatted.kai"
run wr-version-full 1 "$FULL" 'K --version >/dev/full'
run wr-version-closed 1 "$CLOSED" 'K --version >&-'
run wr-help-full 1 "$FULL" 'K help >/dev/full'
run wr-help-cmd-full 1 "$FULL" 'K help simulate >/dev/full'
run wr-check-json-full 1 "$FULL" 'K check --format json unformatted.kai >/dev/full'
run wr-check-text-closed 0 "" 'K check p.kai >&-'
run wr-compile-full 1 "$FULL" 'K compile p.kai -o - >/dev/full'
run wr-compile-closed 1 "$CLOSED" 'K compile p.kai -o - >&-'
run wr-disasm-full 1 "$FULL" 'K disasm p.kai >/dev/full'
run wr-disasm-closed 1 "$CLOSED" 'K disasm ref.kbc >&-'
run wr-simulate-full 1 "$FULL" 'K simulate --no-progress p.kai ev.csv >/dev/full'
run wr-simulate-closed 1 "$CLOSED" 'K simulate --no-progress p.kai ev.csv >&-'
run wr-simulate-jsonl-full 1 "$FULL" 'K simulate --no-progress --format jsonl p.kai big.csv >/dev/full'
run wr-explain-full 1 "$FULL" 'K explain p.kai ev.csv --customer a23 >/dev/full'
run wr-explain-closed 1 "$CLOSED" 'K explain p.kai ev.csv --customer a23 >&-'
run wr-fmt-full 1 "$FULL" 'K fmt p.kai >/dev/full'
run wr-fmt-closed 1 "$CLOSED" 'K fmt p.kai >&-'
run wr-fmt-check-full 1 "$FULL" 'K fmt --check unformatted.kai >/dev/full'
run wr-fmt-diff-full 1 "$FULL" 'K fmt --diff unformatted.kai >/dev/full'
run wr-test-full 1 "$FULL" 'K test t.test.yaml >/dev/full'
run wr-test-closed 1 "$CLOSED" 'K test t.test.yaml >&-'
run wr-test-junit-full 1 "$FULL" 'K test --format junit t.test.yaml >/dev/full'
run wr-merge-full 1 "$FULL" 'K merge p.kai s0.csv s1.csv >/dev/full'
run wr-merge-closed 1 "$CLOSED" 'K merge p.kai s0.csv s1.csv >&-'
run wr-diff-full 1 "$FULL" 'K diff p.kai p.kai ev.csv >/dev/full'
run wr-diff-closed 1 "$CLOSED" 'K diff p.kai p.kai ev.csv >&-'
run wr-readout-full 1 "$FULL" 'K readout p.kai ev.csv >/dev/full'
run wr-readout-closed 1 "$CLOSED" 'K readout p.kai ev.csv >&-'
# one message, not two
run wr-simulate-once 1 "" 'K simulate --no-progress p.kai ev.csv >/dev/full'
check wr-simulate-once-count '[ "$(grep -c "error writing" .err)" = 1 ]'
# and standard output works again when it is fine
run wr-test-ok 0 "" 'K test t.test.yaml >/dev/null'

# ---- 5. signals -----------------------------------------------------------------------
# signal_case NAME SIG STATUS -- a replay whose input is a FIFO kept open
# and never written waits; `timeout -s SIG` stops it.  Its temporary output
# file must exist while it waits (a watcher notes it), and be gone after the
# signal; the process dies of the signal (status 128 + N).
signal_case() {
    name=$1 sig=$2 want=$3
    rm -f "$W/sig-fifo.csv" "$W"/sig-out.csv* "$W/seen"
    mkfifo "$W/sig-fifo.csv"
    (sleep 8 >"$W/sig-fifo.csv") &
    holder=$!
    (i=0; while [ $i -lt 40 ]; do
        if ls "$W" | grep -q '^sig-out\.csv\.tmp\.'; then : >"$W/seen"; break; fi
        sleep 0.05; i=$((i + 1)); done) &
    watcher=$!
    (cd "$W" && timeout --preserve-status -s "$sig" 1 "$KAIROS" simulate --no-progress p.kai sig-fifo.csv -o sig-out.csv) 2>"$W/.err"
    st=$?
    kill "$holder" 2>/dev/null
    wait "$holder" "$watcher" 2>/dev/null
    if [ ! -e "$W/seen" ]; then bad "$name: no temporary file while the replay ran"
    elif ls "$W" | grep -q '^sig-out\.csv'; then bad "$name: a temporary file is left after SIG$sig"
    elif [ "$st" != "$want" ]; then bad "$name: exit status $st, expected $want (death by SIG$sig)" "$W/.err"
    else ok
    fi
}
signal_case sig-int INT 130
signal_case sig-term TERM 143
signal_case sig-hup HUP 129

# timeout -s INT on kairos test, whose test reads a FIFO: its private
# directory (TMPDIR/kairos-test.*) is removed.
mkdir "$W/tt" "$W/ttmp"
cp "$W/p.kai" "$W/tt/p.kai"
mkfifo "$W/tt/ev.csv"
printf 'policy: p.kai\ntests:\n  - name: waits\n    events: ev.csv\n    expect:\n      - count: {equals: 0}\n' >"$W/tt/w.test.yaml"
(sleep 8 >"$W/tt/ev.csv") &
holder=$!
(cd "$W/tt" && TMPDIR="$W/ttmp" timeout -s INT 2 "$KAIROS" test w.test.yaml) >"$W/.out" 2>&1
st=$?
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
if [ "$st" != 124 ]; then bad "sig-test: exit status $st, expected 124 (timed out)" "$W/.out"
elif [ -n "$(ls -A "$W/ttmp")" ]; then bad "sig-test: left $(ls -A "$W/ttmp")"
else ok
fi

# SIGKILL cannot be caught: the temporary file stays, and the next run
# neither trips over it nor touches it.
rm -f "$W/sig-fifo.csv" "$W"/sig-out.csv*
mkfifo "$W/sig-fifo.csv"
(sleep 8 >"$W/sig-fifo.csv") &
holder=$!
(cd "$W" && exec "$KAIROS" simulate --no-progress p.kai sig-fifo.csv -o sig-out.csv) 2>/dev/null &
pid=$!
i=0
while [ $i -lt 50 ] && ! ls "$W" | grep -q '^sig-out\.csv\.tmp\.'; do sleep 0.1; i=$((i + 1)); done
kill -KILL "$pid"
wait "$pid" 2>/dev/null
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
stale=$(ls "$W" | grep '^sig-out\.csv\.tmp\.')
check sig-kill-stale-left '[ -n "$stale" ]'
run sig-kill-next-run 0 "" 'K simulate --no-progress p.kai ev.csv -o sig-out.csv'
check sig-kill-next-output 'cmp -s sig-out.csv expected.csv && [ -e "$stale" ]'

# An SQLite database -o creates is registered for the same removal, with
# its journal: a run killed while its transaction is open leaves neither
# (SPEC 6, "Signals").  A database that existed is not removed; its table
# keeps its rows, the uncommitted transaction undone by SQLite from the
# journal the killed run leaves (a big table: the DELETE has already
# written pages into the file itself, so the journal must stay).
# sq_signal_case NAME SIG STATUS DB -- the replay reads a FIFO nobody
# writes, so it waits with its transaction open; once DB-journal exists
# (the transaction has written), SIG goes to it through timeout, which
# passes it on (a shell's background job ignores SIGINT).
sq_signal_case() {
    name=$1 sig=$2 want=$3 db=$4
    rm -f "$W/sq-fifo.csv"
    mkfifo "$W/sq-fifo.csv"
    sleep 30 >"$W/sq-fifo.csv" &
    holder=$!
    (cd "$W" && exec timeout --preserve-status 30 "$KAIROS" simulate --no-progress p.kai sq-fifo.csv -o "sqlite:$db?table=t") 2>"$W/.err" &
    pid=$!
    i=0
    while [ $i -lt 100 ] && [ ! -e "$W/$db-journal" ]; do sleep 0.1; i=$((i + 1)); done
    if [ -e "$W/$db-journal" ]; then : >"$W/seen"; else rm -f "$W/seen"; fi
    kill -"$sig" "$pid" 2>/dev/null
    wait "$pid"
    st=$?
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
    if [ ! -e "$W/seen" ]; then bad "$name: no $db-journal while the replay ran" "$W/.err"
    elif [ "$st" != "$want" ]; then bad "$name: exit status $st, expected $want (death by SIG$sig)" "$W/.err"
    else ok
    fi
}
rm -f "$W"/sq-new.db*
sq_signal_case sig-sqlite-created-int INT 130 sq-new.db
check sig-sqlite-created-int-gone '! ls | grep -q "^sq-new\.db"'
sq_signal_case sig-sqlite-created-term TERM 143 sq-new.db
check sig-sqlite-created-term-gone '! ls | grep -q "^sq-new\.db"'
# a database that existed: 300,000 rows (18 MB, past SQLite's page cache)
(cd "$W" && rm -f sq-old.db* && sqlite3 sq-old.db "CREATE TABLE t (time TEXT, customer TEXT, rule TEXT, action TEXT, survey TEXT, channel TEXT, attempt INTEGER, variant TEXT); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300000) INSERT INTO t SELECT '2026-03-01T10:00:00Z', 'c' || i, 'r', 'ask', 'NPS', 'email', 1, NULL FROM c" &&
    sqlite3 sq-old.db "SELECT count(*), sum(length(customer)) FROM t" >sq-old.sum && cp sq-old.db sq-old.orig) || bad "setup: sq-old.db"
sq_signal_case sig-sqlite-existing INT 130 sq-old.db
check sig-sqlite-existing-kept '[ -e sq-old.db ] && [ -e sq-old.db-journal ]'
check sig-sqlite-existing-rows '[ "$(sqlite3 sq-old.db "SELECT count(*), sum(length(customer)) FROM t")" = "$(cat sq-old.sum)" ] && cmp -s sq-old.db sq-old.orig'
run sig-sqlite-existing-next-run 0 "" 'K simulate --no-progress p.kai ev.csv -o "sqlite:sq-old.db?table=t"'
check sig-sqlite-existing-next-rows '[ "$(sqlite3 sq-old.db "SELECT count(*) FROM t")" = $(($(wc -l <expected.csv) - 1)) ] && [ ! -e sq-old.db-journal ]'

# -o sqlite: through a dangling symbolic link: the database is made where
# the link leads, and a failed run removes that file (it left it, empty)
(cd "$W" && rm -rf sqlink && mkdir -p sqlink/d && ln -s d/made.db sqlink/l.db && printf 'time,customer,event\nbad,c1,x\n' >sqlink/bad.csv)
run sqlite-out-dangling-link-fails 1 'bad time' 'K simulate --no-progress p.kai sqlink/bad.csv -o "sqlite:sqlink/l.db?table=t"'
check sqlite-out-dangling-link-nothing-left '[ -L sqlink/l.db ] && [ -z "$(ls sqlink/d)" ]'
run sqlite-out-dangling-link 0 "" 'K simulate --no-progress p.kai ev.csv -o "sqlite:sqlink/l.db?table=t"'
check sqlite-out-dangling-link-rows '[ -L sqlink/l.db ] && [ "$(sqlite3 sqlink/d/made.db "SELECT count(*) FROM t")" = $(($(wc -l <expected.csv) - 1)) ]'

# ---- 9. a .kbc file holds bytecode -----------------------------------------------------
: >"$W/empty.kbc"
run kbc-empty-simulate 1 '^empty.kbc: error: not a kairos bytecode file$' 'K simulate --no-progress empty.kbc ev.csv'
run kbc-empty-disasm 1 '^empty.kbc: error: not a kairos bytecode file$' 'K disasm empty.kbc'
printf '\177KB' >"$W/short.kbc"
run kbc-3-bytes 1 '^short.kbc: error: bad kairos bytecode: truncated at byte 3$' 'K disasm short.kbc'
printf '\177KB' >"$W/short.kai"
run kbc-3-bytes-any-name 1 '^short.kai: error: bad kairos bytecode: truncated at byte 3$' 'K simulate --no-progress short.kai ev.csv'
cp "$W/p.kai" "$W/text.kbc"
run kbc-text 1 '^text.kbc: error: not a kairos bytecode file$' 'K simulate --no-progress text.kbc ev.csv'

# ---- 10. a large file read in parts (SPEC.md 5.10) -------------------------------------
# A 2.7 MB log: --jobs 2 and 4 read it in two parts of at least 1 MiB at once.
# Every output, message and exit status is that of one thread: the schedule
# and --stats, JSON Lines, diff, readout (--by a trait), report; a bad row past the middle (the sequential
# message, exit 1, no output file); a quoted field with line feeds across the
# cut (with and without --skip-bad-rows); rows skipped in both halves; the
# log in three files (a part spans files), and a bad row in the third.
cat >"$W/big.kai" <<'KAI'
policy "big"
event ticket_closed { kind: string, sentiment: number }
rule a:
  ask CSAT via email
  after ticket_closed + 24h where kind == "technical" and sentiment >= 0
  cap 1 per 7d
KAI
sed 's/cap 1 per 7d/cap 1 per 3d/' "$W/big.kai" >"$W/big2.kai"
# bigrows MODE: 75,000 rows over 3,000 customers; MODE bad: a bad time at
# 80 %; skip: bad times at 30 % and 80 %; quoted: a 300 KB quoted kind from
# 45 %
bigrows() {
    awk -v mode="$1" 'BEGIN {
        print "time,customer,event,kind,sentiment,survey,score,plan"
        for (i = 0; i < 75000; i++) {
            t = 1767225600 + 60 * i; c = (i * 7919) % 3000
            if ((mode == "bad" || mode == "skip") && i == 60000) { printf "not-a-time,c%d,login,,,,,\n", c; continue }
            if (mode == "skip" && i == 22500) { printf "1767225600x,c%d,login,,,,,\n", c; continue }
            if (mode == "quoted" && i == 33750) {
                printf "%d,c%d,ticket_closed,\"", t, c
                for (k = 0; k < 20000; k++) printf "line \"\"%d\"\"\n", k
                printf "\",1,,,\n"; continue
            }
            if (i % 7 == 1) { printf "%d,c%d,response,,,CSAT,%d,\n", t, c, i % 6; continue }
            if (i % 13 == 2) { printf "%d,c%d,identify,,,,,%s\n", t, c, (c % 4 < 2 ? "gold" : "silver"); continue }
            printf "%d,c%d,%s,%s,%d,,,\n", t, c, (i % 3 == 0 ? "ticket_closed" : "login"), (i % 2 ? "technical" : "complex"), i % 5 - 1
        }
    }'
}
for m in plain bad skip quoted; do bigrows "$m" >"$W/big-$m.csv"; done
awk -F, 'NR > 1 { printf "{\"time\":%s,\"customer\":\"%s\",\"event\":\"%s\",\"kind\":\"%s\",\"sentiment\":%s,\"survey\":\"%s\",\"score\":%s,\"plan\":\"%s\"}\n",
                    $1, $2, $3, $4, ($5 == "" ? "null" : $5), $6, ($7 == "" ? "null" : $7), $8 }' \
    "$W/big-plain.csv" >"$W/big-plain.jsonl"
# the JSON Lines log in two halves (a file's rows start at its first byte: a
# cut there once read the second file twice)
head -n 37500 "$W/big-plain.jsonl" >"$W/bigjh-0.jsonl"
tail -n +37501 "$W/big-plain.jsonl" >"$W/bigjh-1.jsonl"
check big-size '[ "$(wc -c <big-plain.csv)" -gt 2500000 ]'
# the same rows in three files, each with the header (the parts span files)
for m in plain bad; do
    awk -v p="$W/bigm$m-" 'NR == 1 { h = $0; next } { f = p int((NR - 2) / 25000) ".csv"; if (!(f in seen)) { print h > f; seen[f] = 1 } print > f }' "$W/big-$m.csv"
done
for j in 1 2 4; do
    run "big-simulate-jobs$j" 0 "" "K simulate --no-progress --stats big.kai big-plain.csv --jobs $j -o big-$j.csv 2>big-$j.err"
    run "big-jsonl-jobs$j" 0 "" "K simulate --no-progress --stats big.kai big-plain.jsonl --jobs $j -o bigj-$j.csv 2>bigj-$j.err"
    run "big-jsonl-files-jobs$j" 0 "" "K simulate --no-progress --stats big.kai bigjh-0.jsonl bigjh-1.jsonl --jobs $j -o bigjh-$j.csv 2>bigjh-$j.err"
    run "big-diff-jobs$j" 0 "" "K diff big.kai big2.kai big-plain.csv --jobs $j --format csv -o bigd-$j.csv"
    run "big-readout-jobs$j" 0 "" "K readout big.kai big-plain.csv --by customer.plan --jobs $j --format json -o bigr-$j.json"
    run "big-readout-jsonl-jobs$j" 0 "" "K readout big.kai big-plain.jsonl --by customer.plan --jobs $j --format json -o bigrj-$j.json"
    run "big-report-jobs$j" 0 "" "K report big.kai big-plain.csv --jobs $j -o bigh-$j.html"
    run "big-bad-jobs$j" 1 "^big-bad.csv:60002:1: error: " "K simulate --no-progress big.kai big-bad.csv --jobs $j -o bigb-$j.csv"
    cp "$W/.err" "$W/bigb-$j.err"
    run "big-skip-jobs$j" 0 "" "K simulate --no-progress --stats --skip-bad-rows big.kai big-skip.csv --jobs $j -o bigs-$j.csv 2>bigs-$j.err"
    run "big-quoted-jobs$j" 0 "" "K simulate --no-progress --stats big.kai big-quoted.csv --jobs $j -o bigq-$j.csv 2>bigq-$j.err"
    run "big-files-jobs$j" 0 "" "K simulate --no-progress --stats big.kai bigmplain-0.csv bigmplain-1.csv bigmplain-2.csv --jobs $j -o bigm-$j.csv 2>bigm-$j.err"
    run "big-files-bad-jobs$j" 1 "^bigmbad-2.csv:10002:1: error: " "K simulate --no-progress big.kai bigmbad-0.csv bigmbad-1.csv bigmbad-2.csv --jobs $j -o bigmb-$j.csv"
    cp "$W/.err" "$W/bigmb-$j.err"
    run "big-quoted-skip-jobs$j" 0 "" "K simulate --no-progress --stats --skip-bad-rows big.kai big-quoted.csv --jobs $j -o bigqs-$j.csv 2>bigqs-$j.err"
done
check big-not-vacuous '[ "$(wc -l <big-1.csv)" -gt 1000 ] && [ "$(wc -l <bigd-1.csv)" -gt 10 ] && grep -q "skipped" bigs-1.err && grep -q "\"gold\"" bigr-1.json && grep -q "\"silver\"" bigr-1.json'
check big-bad-no-output '[ ! -e bigb-1.csv ] && [ ! -e bigb-2.csv ] && [ ! -e bigb-4.csv ]'
for j in 2 4; do
    check "big-same-jobs$j" "cmp -s big-1.csv big-$j.csv && cmp -s big-1.err big-$j.err"
    check "big-jsonl-same-jobs$j" "cmp -s big-1.csv bigj-$j.csv && cmp -s bigj-1.err bigj-$j.err"
    check "big-jsonl-files-same-jobs$j" "cmp -s big-1.csv bigjh-$j.csv && cmp -s bigjh-1.err bigjh-$j.err"
    check "big-diff-same-jobs$j" "cmp -s bigd-1.csv bigd-$j.csv"
    check "big-readout-same-jobs$j" "cmp -s bigr-1.json bigr-$j.json && cmp -s bigr-1.json bigrj-$j.json"
    check "big-report-same-jobs$j" "cmp -s bigh-1.html bigh-$j.html"
    check "big-bad-same-jobs$j" "cmp -s bigb-1.err bigb-$j.err"
    check "big-skip-same-jobs$j" "cmp -s bigs-1.csv bigs-$j.csv && cmp -s bigs-1.err bigs-$j.err"
    check "big-quoted-same-jobs$j" "cmp -s bigq-1.csv bigq-$j.csv && cmp -s bigq-1.err bigq-$j.err"
    check "big-files-same-jobs$j" "cmp -s big-1.csv bigm-$j.csv && cmp -s bigm-1.err bigm-$j.err && cmp -s bigmb-1.err bigmb-$j.err"
    check "big-quoted-skip-same-jobs$j" "cmp -s bigqs-1.csv bigqs-$j.csv && cmp -s bigqs-1.err bigqs-$j.err"
done

# ---- 11. the customer in the third column, ids quoted and not --------------------------------
# (runtime/csv.c hashes the next row's customer id ahead, by counting commas,
# once a pool holds 262,144 customers: the unit test csv_hash_ahead forces it
# on.) The customer after a quoted kind with a comma in it, quoted ids, ids
# with doubled quotes; 40,000 customers over 5 MB (many buffer refills). The
# schedule is that of the same rows in JSON Lines (another reader), on one
# thread and in parts.
(cd "$W" && awk 'BEGIN {
    print "kind,time,customer,event,sentiment" >"ahead-ids.csv"
    for (i = 0; i < 120000; i++) {
        t = 1767225600 + 37 * i; c = (i * 7919) % 40000
        kind = i % 5 == 0 ? "technical" : i % 11 == 0 ? "tech,nical" : "billing"
        id = "c" c; cid = id
        if (i % 13 == 0) cid = "\"" id "\""
        if (c % 97 == 0) { id = "c\"" c; cid = "\"c\"\"" c "\"" }
        kq = kind ~ /,/ ? "\"" kind "\"" : kind
        printf "%s,%d,%s,ticket_closed,%d\n", kq, t, cid, i % 3 - 1 >"ahead-ids.csv"
        jid = id; gsub(/"/, "\\\"", jid)
        printf "{\"time\":%d,\"customer\":\"%s\",\"event\":\"ticket_closed\",\"kind\":\"%s\",\"sentiment\":%d}\n", t, jid, kind, i % 3 - 1 >"ahead-ids.jsonl"
    }
}')
for j in 1 2; do
    run "ahead-ids-csv-j$j" 0 "" "K simulate --no-progress --jobs $j big.kai ahead-ids.csv >ahead-ids-$j.csv"
    run "ahead-ids-jsonl-j$j" 0 "" "K simulate --no-progress --jobs $j big.kai ahead-ids.jsonl >ahead-idsj-$j.csv"
done
check ahead-ids-same 'cmp -s ahead-ids-1.csv ahead-idsj-1.csv && cmp -s ahead-ids-1.csv ahead-ids-2.csv && cmp -s ahead-ids-1.csv ahead-idsj-2.csv'
check ahead-ids-not-vacuous '[ "$(wc -l <ahead-ids-1.csv)" -gt 1000 ] && grep -q "\"c\"\"" ahead-ids-1.csv && [ "$(cut -d, -f2 ahead-ids-1.csv | sort -u | wc -l)" -gt 5000 ]'

# ---- 12. the merge's order (runtime/partition.c heap_less) ---------------------------------
# Rows carry their customer id's first 16 bytes for the merge. Ids of 26
# bytes whose first 16 are the same, ids that are a prefix of others, and
# quiet hours that put many rows at the same 08:00: the schedule is in
# (time, id bytes) order (sort -c) and the same on one thread and on two.
cat >"$W/merge-order.kai" <<'KAI'
policy "order"
timezone "UTC"
quiet 20:00-08:00 on email
rule a:
  ask CSAT via email
  after purchase + 1h
KAI
awk 'BEGIN {
    print "time,customer,event"
    for (i = 0; i < 30000; i++) {
        c = (i * 7919) % 5000
        id = i % 500 == 0 ? "enterprise-custo" : c % 2 == 0 ? sprintf("enterprise-customer-%06d", c) : sprintf("enterprise-custo%d", c)
        printf "%d,%s,purchase\n", 1767225600 + 13 * i, id
    }
}' >"$W/merge-order.csv"
for j in 1 2; do
    run "merge-order-j$j" 0 "" "K simulate --no-progress --jobs $j merge-order.kai merge-order.csv >merge-order-$j.csv"
done
check merge-order-sorted 'tail -n +2 merge-order-2.csv | LC_ALL=C sort -t, -k1,1 -k2,2 -c && cmp -s merge-order-1.csv merge-order-2.csv'
check merge-order-not-vacuous '[ "$(grep -c "T08:00:00Z,enterprise-custo," merge-order-2.csv)" -ge 1 ] && [ "$(grep -c "T08:00:00Z" merge-order-2.csv)" -gt 1000 ]'
# with --jobs 2 the rows are written on a thread of their own (partition.c
# Writer): the same bytes as --jobs 1 (above), and its write error stops
# the merge with the one message
run merge-order-writer-full 1 '^/dev/full: error: write error: No space left on device$' 'K simulate --no-progress --jobs 2 merge-order.kai merge-order.csv -o /dev/full'
run merge-order-writer-stdout-full 1 "$FULL" 'K simulate --no-progress --jobs 2 merge-order.kai merge-order.csv >/dev/full'
# standard output held back past 1 MiB in a temporary file in $TMPDIR
# (unlinked: nothing left there), in memory when none can be made; the
# same bytes as -o FILE (merge-order-1.csv: 2 MB)
mkdir -p "$W/tmpd"
run held-tmpdir 0 "" 'TMPDIR=$PWD/tmpd K simulate --no-progress merge-order.kai merge-order.csv >held-1.csv'
run held-no-tmpdir 0 "" 'TMPDIR=$PWD/no-such-dir K simulate --no-progress merge-order.kai merge-order.csv >held-2.csv'
run held-file 0 "" 'K simulate --no-progress merge-order.kai merge-order.csv -o held-3.csv'
check held-same '[ "$(wc -c <held-3.csv)" -gt 1048576 ] && cmp -s held-1.csv held-3.csv && cmp -s held-2.csv held-3.csv'
check held-tmpdir-empty '[ -z "$(ls -A tmpd)" ]'
# diff and readout merge each policy's rows with a writer too
sed 's/after purchase + 1h/after purchase + 3h/' "$W/merge-order.kai" >"$W/merge-order-b.kai"
for j in 1 2; do
    run "merge-order-diff-j$j" 0 "" "K diff --jobs $j --format csv merge-order.kai merge-order-b.kai merge-order.csv >merge-diff-$j.csv"
    run "merge-order-readout-j$j" 0 "" "K readout --jobs $j --format csv merge-order.kai merge-order.csv >merge-readout-$j.csv"
done
check merge-order-diff-same 'cmp -s merge-diff-1.csv merge-diff-2.csv && [ "$(wc -l <merge-diff-2.csv)" -gt 8192 ]'
check merge-order-readout-same 'cmp -s merge-readout-1.csv merge-readout-2.csv'
# runs_same NAME CMD PATTERN: CMD (writing to standard output) with a
# temporary directory and with none that can be made: the same bytes,
# PATTERN in them, nothing left behind.
runs_same() {
    run "$1-tmpdir" 0 "" "TMPDIR=\$PWD/tmpr $2 >$1-1.out"
    run "$1-no-tmpdir" 0 "" "TMPDIR=\$PWD/no-such-dir $2 >$1-2.out"
    check "$1-same" "cmp -s $1-1.out $1-2.out && grep -q '$3' $1-1.out"
    check "$1-tmpdir-empty" '[ -z "$(ls -A tmpr)" ]'
}
mkdir -p "$W/tmpr"
# readout keeps its sends and responses past 4 MiB in the temporary file,
# sorted in runs (SPEC 5.10): 200,000 of them here; all in memory when no
# temporary file can be made.
awk 'BEGIN { print "time,customer,event,survey,score"; for (i = 0; i < 100000; i++) { t = 1772323200 + 60 * i; c = i % 1000; printf "%d,c%d,purchase,,\n%d,c%d,response,NPS,%d\n", t, c, t + 30 + i % 7, c, i % 11 } }' >"$W/runs.csv"
echo 'ask NPS after purchase cap 1 per 1h' >"$W/runs.kai"
runs_same readout-runs 'K readout --format json runs.kai runs.csv' '"asks":100000,"answered":100000'
# diff's summary pairs moved sends from the same kind of runs: 300,000 sends
# each moved by an hour (600,000 rows that may pair, past the 4 MiB budget).
awk 'BEGIN { print "time,customer,event"; for (i = 0; i < 300000; i++) printf "%d,c%d,purchase\n", 1772323200 + 10 * i, i % 150000; print "1790000000,zz,login" }' >"$W/moved.csv"
echo 'ask NPS after purchase + 1h' >"$W/moved1.kai"
echo 'ask NPS after purchase + 2h' >"$W/moved2.kai"
runs_same diff-runs 'K diff --format json moved1.kai moved2.kai moved.csv' '"moved":{"sends":300000,"median_shift_seconds":3600}'
# A file-size limit (ulimit -f) is no signal: SIGXFSZ is ignored, so a write
# past it fails with EFBIG.  An output past it is a write error with nothing
# left behind (the command was killed, its NAME.tmp.XXXXXX left); a spill
# past it keeps its records in memory, the same bytes (readout was killed).
run xfsz-output 1 '^moved.csv.out: error: write error: File too large$' '(ulimit -f 1024; K simulate --no-progress moved1.kai moved.csv -o moved.csv.out)'
check xfsz-output-nothing-left '[ -z "$(ls | grep "^moved.csv.out")" ]'
run xfsz-readout-spill 0 "" '(ulimit -f 1024; K readout --format json runs.kai runs.csv >readout-xfsz.out)'
check xfsz-readout-same 'cmp -s readout-xfsz.out readout-runs-1.out'

# --input and the schema's input: disagreeing is an error, not the schema's
# word taken without one; agreeing, or the schema silent, is fine
printf 'policy "t"\nrule v: task v after ev\n' >"$W/seg.kai"
printf '{"type":"track","event":"ev","userId":"u","timestamp":"2026-03-02T14:30:00Z"}\n' >"$W/seg-ok.jsonl"
printf 'input: segment\n' >"$W/in-seg.yaml"
printf 'drop: [nothing]\n' >"$W/in-none.yaml"
run input-contradicts-schema 1 '^in-seg.yaml: error: the schema says input: segment, the command line --input rows$' 'K simulate --no-progress seg.kai ev.csv --schema in-seg.yaml --input rows'
run input-agrees-schema 0 '' 'K simulate --no-progress seg.kai seg-ok.jsonl --schema in-seg.yaml --input segment'
run input-schema-silent 0 '' 'K simulate --no-progress seg.kai seg-ok.jsonl --schema in-none.yaml --input segment'

# ---- Segment calls: ids and names as the rows readers take them --------------------------
# yajl's tree turns a lone surrogate into '?' and ends a string at \u0000: both would merge or
# cut customers, so both are errors; a number is no event name, and a numeric timestamp is bad,
# not missing.
printf 'policy "t"\nrule v: task v after ev\n' >"$W/seg.kai"
printf '{"type":"track","event":"ev","userId":"u\\ud800x","timestamp":"2026-03-02T14:30:00Z"}\n' >"$W/seg-surrogate.jsonl"
run seg-surrogate 1 '^seg-surrogate.jsonl:1:41: error: invalid JSON: lone surrogate \\ud800 in a string \(not Unicode\)$' 'K simulate --no-progress --input segment seg.kai seg-surrogate.jsonl'
printf '{"type":"track","event":"ev","userId":"n\\u0000x","timestamp":"2026-03-02T14:30:00Z"}\n' >"$W/seg-nul.jsonl"
run seg-nul 1 '^seg-nul.jsonl:1:41: error: \\u0000 \(a NUL byte\) in a string' 'K simulate --no-progress --input segment seg.kai seg-nul.jsonl'
printf '{"type":"track","event":5,"userId":"u1","timestamp":"2026-03-02T14:30:00Z"}\n' >"$W/seg-event-number.jsonl"
run seg-event-number 1 '^seg-event-number.jsonl:1: error: bad event: the name of the tracked event is a string, not a number$' 'K simulate --no-progress --input segment seg.kai seg-event-number.jsonl'
printf '{"type":"track","event":"ev","userId":"u1","timestamp":1772461800}\n' >"$W/seg-ts-number.jsonl"
printf '{"type":"track","event":"ev","userId":true,"timestamp":"2026-03-02T14:30:00Z"}\n' >"$W/seg-id-bool.jsonl"
run seg-id-bool 1 '^seg-id-bool.jsonl:1: error: bad customer: userId is true, not a string or a number$' 'K simulate --no-progress --input segment seg.kai seg-id-bool.jsonl'
run seg-ts-number 1 '^seg-ts-number.jsonl:1: error: bad timestamp: a number' 'K simulate --no-progress --input segment seg.kai seg-ts-number.jsonl'

# ---- --map: one column holds one field; hints offer no column of another field ---------------
printf 'time,customer,event\n2026-03-01T00:00:00Z,c1,ev\n' >"$W/map3.csv"
run map-required-twice 1 '^kairos: error: event is mapped twice: to event \(by its own name: the event is not mapped to another source\) and to customer$' 'K simulate --no-progress seg.kai map3.csv --map customer=event'
run map-required-twice-time 1 '^kairos: error: time is mapped twice: to time' 'K simulate --no-progress seg.kai map3.csv --map event=time'
run map-required-swapped 0 '' 'K simulate --no-progress seg.kai map3.csv --map customer=event --map event=customer'
printf 'time,customer\n2026-03-01T00:00:00Z,c1\n' >"$W/map-noev.csv"
run map-hint-not-time 1 'hint: name the column holding the event with --map event=COLUMN$' 'K simulate --no-progress seg.kai map-noev.csv'
printf 'time,customer,"ev\rent"\n2026-03-01T00:00:00Z,c1,ev\n' >"$W/map-cr.csv"
# check and fmt read policy source: bytecode (by name or by its magic, an
# empty .kbc too) is K0003, not 300 lines of 'unexpected character'
run check-kbc 1 '^ref.kbc: error: bytecode \(a compiled policy, or a file named .kbc\), not policy source: `kairos disasm` lists bytecode$' 'K check ref.kbc'
run check-kbc-magic 1 '^bc.kai: error: bytecode' 'cp ref.kbc bc.kai && K check bc.kai'
run check-kbc-empty 1 '^empty.kbc: error: bytecode' ': > empty.kbc && K check empty.kbc'
run check-kbc-json 1 '' 'K check --format json ref.kbc 2>&1 | grep -q "\"code\":\"K0003\"" && exit 1'
run fmt-kbc 1 '^ref.kbc: error: bytecode' 'K fmt ref.kbc'
run fmt-kbc-stdin 1 '^<stdin>: error: bytecode' 'K fmt - < ref.kbc'
# --schema: nesting past 64 levels is refused at once (libyaml's loader is
# quadratic in it: 1,000,000 levels ran for minutes), a directory is named
# as one, and a pipe works (the file is read whole, then parsed twice)
run schema-too-deep 1 '^deep.yaml:1:73: error: YAML nested deeper than 64 levels$' 'python3 -c "print(\"columns: \" + \"[\" * 100000 + \"]\" * 100000)" > deep.yaml && K simulate --no-progress p.kai ev.csv --schema deep.yaml'
# one document: a second one (after ---) would be dropped without a word
run schema-two-documents 1 '^two-docs.yaml:2:1: error: a schema file holds one YAML document$' 'printf "drop: [nothing]\\n---\\ntime: {unit: ms}\\n" > two-docs.yaml && K simulate --no-progress p.kai ev.csv --schema two-docs.yaml'
run schema-second-not-yaml 1 '^not-yaml.yaml:[0-9]+:[0-9]+: error: invalid YAML: ' 'printf "drop: [nothing]\\n---\\n[[[ not yaml\\n" > not-yaml.yaml && K simulate --no-progress p.kai ev.csv --schema not-yaml.yaml'
# an output name of 255 bytes (the most a file name may have) is written:
# the temporary name beside it is cut to fit (NAME.tmp.XXXXXX would not)
LONG=$(printf '%0251d.csv' 0)
run out-long-name 0 '' "K simulate --no-progress p.kai ev.csv -o $LONG"
check out-long-name-written "cmp -s $LONG expected.csv && [ -z \"\$(ls -A | grep '^00000.*\.tmp\.')\" ]"
LONGK=$(printf '%0236d-%s.kai' 0 "$(printf '\303\251\303\251\303\251\303\251\303\251\303\251')")
run fmt-w-long-name 0 "" "cp p.kai $LONGK && printf '\\n\\n\\n' >> $LONGK && K fmt -w $LONGK && cmp -s p.kai $LONGK"
check fmt-w-long-name-nothing-left "[ -z \"\$(ls -A | grep '^00000.*\.tmp\.')\" ]"
# a database name's table= given twice is an error, not the last one read
# or written without a word (before any database is opened)
run db-table-twice 1 '^sqlite:none.db\?table=a&table=b: error: table= given twice: give one table$' 'K simulate --no-progress p.kai "sqlite:none.db?table=a&table=b"'
run db-out-table-twice 1 '^sqlite:out-twice.db\?table=s&table=t: error: table= given twice: give one table$' 'K simulate --no-progress p.kai ev.csv -o "sqlite:out-twice.db?table=s&table=t"'
check db-out-table-twice-nothing '[ ! -e out-twice.db ]'
# a byte libyaml's reader refuses (bad UTF-8, a control character) is
# placed where it is, not at 1:1 (the reader gives a byte offset, not a mark)
printf 'columns:\n\n  time: "t\377"\n' > "$W/bad-utf8.yaml"
run schema-bad-utf8-where 1 '^bad-utf8.yaml:3:11: error: invalid YAML: invalid leading UTF-8 octet$' 'K simulate --no-progress p.kai ev.csv --schema bad-utf8.yaml'
printf 'columns:\n  customer: u\001x\n' > "$W/ctl.yaml"
run schema-control-where 1 '^ctl.yaml:2:14: error: invalid YAML: control characters are not allowed$' 'K simulate --no-progress p.kai ev.csv --schema ctl.yaml'
# names a message quotes from a schema, --map or the command line show their
# control characters escaped: no escape sequence reaches the terminal, and
# the message stays one line
printf '%s\n' 'columns:' '  customer: "user\e]0;x\a\nid"' > "$W/esc.yaml"
run schema-name-escaped 1 '^ev.csv:1:1: error: missing column "user\\x1B\]0;x\\x07\\nid" \(the customer, by esc.yaml\) in the header row$' 'K simulate --no-progress p.kai ev.csv --schema esc.yaml'
printf '%s\n' 'time:' '  zone: "Eu\e[31m"' > "$W/esc-zone.yaml"
run schema-zone-escaped 1 '^esc-zone.yaml:2:9: error: unknown time zone "Eu\\x1B\[31m"$' 'K simulate --no-progress p.kai ev.csv --schema esc-zone.yaml'
run map-name-escaped 1 '^ev.csv:1:1: error: missing column "x\\x1B\[31m\\nid" \(the customer, by --map\) in the header row$' 'K simulate --no-progress p.kai ev.csv --map "customer=$(printf "x\\033[31m\\nid")"'
run map-usage-escaped 2 '^kairos simulate: --map: customer is mapped twice \(a and b\\x1B\)$' 'K simulate --no-progress p.kai ev.csv --map "$(printf "customer=a,customer=b\\033")"'
run schema-one-explicit-document 0 '' 'printf -- "---\\ndrop: [nothing]\\n...\\n" > explicit.yaml && K simulate --no-progress p.kai ev.csv --schema explicit.yaml'
run schema-dir 1 '^\.: error: cannot read file: Is a directory$' 'K simulate --no-progress p.kai ev.csv --schema .'
run schema-pipe 0 '' 'printf "drop: [nothing]\\n" > pipe-schema.yaml && cat pipe-schema.yaml | K simulate --no-progress p.kai ev.csv --schema /dev/stdin'
# a quoted cell is cut at 40 bytes between characters, then '...': the
# message stays UTF-8 (iconv checks it)
run bad-time-cut-utf8 1 'bad time "(€){13}\.\.\." \(expected' 'printf "time,customer,event\\n%s,c,x\\n" "€€€€€€€€€€€€€€€€€€€€" > cut.csv && K simulate --no-progress p.kai cut.csv'
check bad-time-cut-utf8-text 'iconv -f UTF-8 -t UTF-8 .err >/dev/null'
run map-hint-escaped 1 'hint: the closest column: "ev\\rent"; use --map event=ev\\rent$' 'K simulate --no-progress seg.kai map-cr.csv'

# ---- line numbers of six digits widen the gutter, so the caret stays under its column ------
awk 'BEGIN { print "time,customer,event"; for (i = 0; i < 100005; i++) print "2026-03-01T00:00:00Z,c" i ",ev";
             print "2026-03-01T00:00:00Z,c1,ev,extra" }' >"$W/gutter.csv"
run gutter-csv 1 '^       \|                            \^$' 'K simulate --no-progress seg.kai gutter.csv'
awk 'BEGIN { for (i = 0; i < 100000; i++) print ""; print "ask NPS after e + 3dx" }' >"$W/gutter.kai"
run gutter-kai 1 '^       \|                   \^~~$' 'K check gutter.kai'

# ---- messages ------------------------------------------------------------------------------
run msg-simulate-dir 1 '^dir: error: cannot read file: Is a directory$' 'K simulate --no-progress dir ev.csv'
run msg-disasm-dir 1 '^dir: error: cannot read file: Is a directory$' 'K disasm dir'
run msg-compile-dir 1 '^dir: error: cannot read file: Is a directory$' 'K compile dir -o x.kbc'
printf 'policy: p.kai\ntests:\n  - name: a\000b\n' >"$W/nul.test.yaml"
run msg-yaml-nul 1 '^nul.test.yaml:3:12: error: YAML syntax: control characters are not allowed$' 'K test nul.test.yaml'
printf 'policy: p.kai\ntests:\n  - name: \303\251\377\n' >"$W/utf8.test.yaml"
run msg-yaml-utf8 1 '^utf8.test.yaml:3:12: error: YAML syntax: invalid leading UTF-8 octet$' 'K test utf8.test.yaml'

# ---- events from a stream whose name tells no format (SPEC 5.1) -------------------
# bash's <(...) is /dev/fd/63, a pipe: read as standard input is, CSV unless
# --stdin-format jsonl; a regular file without .csv or .jsonl is still refused.
mkfifo "$W/evfifo"
(cd "$W" && $TMO cat ev.csv >evfifo) &
run in-fifo-noext 0 "" 'K simulate p.kai evfifo -o fifo-out.csv'
wait
check in-fifo-noext-same 'cmp -s fifo-out.csv expected.csv'
(cd "$W" && $TMO cat ev.csv >evfifo 2>/dev/null) &
run in-fifo-noext-jsonl 1 "^evfifo:1" 'K simulate p.kai evfifo --stdin-format jsonl'
wait
run in-regular-noext 1 "unknown event file format" 'cp ev.csv ev.txt && K simulate p.kai ev.txt'

# ---- standard output held back without room for its temporary file (SPEC 4.13) -----
# A schedule past 1 MiB waits in a temporary file; when that file cannot grow
# (a small or full $TMPDIR; here a file-size limit) the rows come back into
# memory and the run still succeeds, the same bytes as with room.
/usr/bin/python3 - "$W/many.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("time,customer,event\n")
    for i in range(40000):
        f.write("2026-01-01T%02d:%02d:%02dZ,customer-%06d,ticket_closed\n" % (i // 3600 % 24, i // 60 % 60, i % 60, i))
    f.write("2026-03-01T00:00:00Z,zz,login\n")      # the horizon: every ask is due before it
PY
cp "$ROOT/bench/single.kai" "$W/single.kai"
run out-held-room 0 "" 'K simulate single.kai many.csv --no-progress >held-room.csv'
run out-held-no-room 0 "" "(trap '' XFSZ; ulimit -f 1024; $TMO \"\$KAIROS\" simulate single.kai many.csv --no-progress) | cat >held-limited.csv"
check out-held-same 'cmp -s held-room.csv held-limited.csv && [ $(wc -c <held-room.csv) -gt 1500000 ]'

# ---- the partitioned replay's runs without room for them (SPEC 5.10) ----
# One customer asked 100,000 times under --memory 16M: its rows go to runs in
# the temporary file, and, shuffled, its records are sorted in runs there;
# when that file cannot grow (a 1 MiB file-size limit) the rows stay in
# memory and the records are loaded whole, and the schedule is the same.
awk 'BEGIN { print "time,customer,event"; for (i = 0; i < 100000; i++) printf "%d,c1,purchase\n", 1772323200 + i }' >"$W/runs-sorted.csv"
awk 'BEGIN { print "time,customer,event"; for (i = 0; i < 100000; i++) printf "%d,c1,purchase\n", 1772323200 + (i * 7919) % 100000 }' >"$W/runs-shuffled.csv"
echo 'ask NPS after purchase' >"$W/runs.kai"
for o in sorted shuffled; do
    run runs-$o-room 0 "" "K simulate --no-progress --memory 16M runs.kai runs-$o.csv 2>/dev/null >runs-$o-room.csv"
    run runs-$o-no-room 0 "" "(trap '' XFSZ; ulimit -f 1024; $TMO \"\$KAIROS\" simulate --no-progress --memory 16M runs.kai runs-$o.csv 2>/dev/null) | cat >runs-$o-limited.csv"
    check runs-$o-same "cmp -s runs-$o-room.csv runs-$o-limited.csv && [ \$(wc -l <runs-$o-room.csv) = 100001 ]"
done

# ---- gzip data where no .gz name says so (SPEC 5.1: only .gz files are decompressed) ----
gzip -c "$W/ev.csv" >"$W/ev-stdin.gz"
run in-gzip-stdin 1 "^<stdin>:1: error: this is gzip data, and only files named .gz are decompressed" 'K simulate p.kai - <ev-stdin.gz'
run in-gzip-stdin-jsonl 1 "^<stdin>:1: error: this is gzip data" 'K simulate p.kai - --stdin-format jsonl <ev-stdin.gz'
run in-gzip-misnamed 1 "^ev-gz.csv:1: error: this is gzip data" 'cp ev-stdin.gz ev-gz.csv && K simulate p.kai ev-gz.csv'

# ---- the CSV record and JSON Lines line limit (SPEC 9.2): 64 MiB without the line end, whatever ends it ----
# One data record (CSV) or line (JSON Lines) of the limit - 1, the limit and
# the limit + 1 bytes, its line end not counted, ended by LF, by CR LF and by
# the end of the file: the first two are read, the third refused, whatever
# ends it (a CSV record of exactly 64 MiB was refused with LF and CR LF,
# taken at the end of the file; one of 64 MiB - 1 refused with CR LF; a JSON
# Lines line of exactly 64 MiB was refused with CR LF only).  The files are
# made here, one at a time, and removed.
LIM=$((64 << 20))
# big_record FILE BYTES END -- FILE of BYTES bytes, the line end not counted:
# FILE.csv a header, then one record (a long cell x); FILE.jsonl one line (a
# long string "x"); ended by END: lf, crlf, cr (a CR with no LF after it, the
# file's last byte), eof (nothing)
big_record() {
    case $1 in
    *.jsonl) hdr='' pre='{"time":"2026-03-01T10:00:00Z","customer":"a01","event":"identify","x":"' post='"}' ;;
    *) hdr='time,customer,event,x' pre='2026-03-01T10:00:00Z,a01,identify,' post='' ;;
    esac
    { [ -n "$hdr" ] && printf '%s\n' "$hdr"
      printf '%s' "$pre"
      head -c $(($2 - ${#pre} - ${#post})) /dev/zero | tr '\0' x
      printf '%s' "$post"
      case $3 in lf) printf '\n' ;; crlf) printf '\r\n' ;; cr) printf '\r' ;; esac
    } >"$W/$1"
}
# from a pipe the record arrives in pieces and is checked while incomplete:
# with its CR in the buffer and its LF not yet there, it holds the limit + 1
# bytes, and the CR may begin its line end (it does).  The writer sends the
# LF only once the reader has taken every byte before it (FIONREAD: none
# left in the pipe), so the reader sees the record without its LF.
cat >"$W/cr-apart.py" <<'PY'
import fcntl, os, struct, sys, termios, time
fd = sys.stdout.fileno()
try:
    fcntl.fcntl(fd, 1031, 1 << 20)          # F_SETPIPE_SZ: fewer, larger reads
except OSError:
    pass
def put(b):
    while b:
        b = b[os.write(fd, b):]
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        put(block)
put(b"\r")
while struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0] > 0:
    time.sleep(0.01)
put(b"\n")
PY
# no message but the warning that p.kai's rule never triggered (these logs
# hold one identify row)
QUIET='[ "$(grep -cv "^kairos: warning: rule .* never triggered: the input had no" .err)" = 0 ]'
# limit_cases FMT FILE PATTERN -- the cases FMT-limit-*: FILE (big_record)
# of each size and ending, read (no message) or refused (PATTERN); the
# limit with a final CR; the limit from a pipe with the CR and the LF apart.
limit_cases() {
    fmt=$1 file=$2 pat=$3
    for end in lf crlf eof; do
        for d in -1 0 1; do
            case $d in -1) what=minus1 ;; 0) what=exact ;; 1) what=plus1 ;; esac
            big_record "$file" $((LIM + d)) $end
            if [ $d = 1 ]; then
                run "$fmt-limit-$what-$end" 1 "$pat" "K simulate --no-progress p.kai $file"
            else
                run "$fmt-limit-$what-$end" 0 "" "K simulate --no-progress p.kai $file"
                check "$fmt-limit-$what-$end-quiet" "$QUIET"
            fi
        done
    done
    # a CR that ends the file is a line end too (as for any record, 5.2)
    big_record "$file" $LIM cr
    run "$fmt-limit-exact-cr" 0 "" "K simulate --no-progress p.kai $file"
    big_record "$file" $LIM eof
    run "$fmt-limit-exact-pipe-cr-apart" 0 "" "/usr/bin/python3 cr-apart.py $file | K simulate --no-progress p.kai - --stdin-format $fmt"
    check "$fmt-limit-exact-pipe-cr-apart-quiet" "$QUIET"
    rm -f "$W/$file"
}
limit_cases csv big-rec.csv '^big-rec.csv:2:1: error: row longer than 64 MiB'
limit_cases jsonl big-rec.jsonl '^big-rec.jsonl:1: error: line longer than 64 MiB$'
# a byte order mark before the first line is not counted (as the CSV header's)
big_record big-rec.jsonl $LIM lf
{ printf '\357\273\277'; cat "$W/big-rec.jsonl"; } >"$W/big-rec-bom.jsonl" && rm -f "$W/big-rec.jsonl"
run jsonl-limit-exact-bom 0 "" 'K simulate --no-progress p.kai big-rec-bom.jsonl'
check jsonl-limit-exact-bom-quiet "$QUIET"
rm -f "$W/big-rec-bom.jsonl"
# the header row: the same count
big_hdr() {
    { printf 'time,customer,event,'; head -c $(($1 - 20)) /dev/zero | tr '\0' x; printf '\r\n2026-03-01T10:00:00Z,a01,identify,1\r\n'; } >"$W/big-hdr.csv"
}
big_hdr $LIM
run csv-limit-header-exact-crlf 0 "" 'K simulate --no-progress p.kai big-hdr.csv'
big_hdr $((LIM + 1))
run csv-limit-header-plus1-crlf 1 '^big-hdr.csv:1:1: error: header row longer than 64 MiB$' 'K simulate --no-progress p.kai big-hdr.csv'
rm -f "$W/big-hdr.csv"

# The warning for a rule whose trigger no row was (SPEC 4.14) is the same
# however the file is read: in one part (--jobs 1) or in four at once, the
# near-twins of the trigger's name met in different parts (the byte-wise
# smallest of the closest two is named); with more near-twins than are
# kept (256), the same ones are kept.
cat >"$W/trig.kai" <<'KAI'
policy "trig"
cap 1 per 30d
rule nps:
  ask NPS via email after ticket_closed + 1h
KAI
/usr/bin/python3 - "$W" <<'PY'
import sys
w = sys.argv[1]
def write(name, n, twins, extra):
    with open(f"{w}/{name}.csv", "w") as f, open(f"{w}/{name}.jsonl", "w") as j:
        f.write("time,customer,event\n")
        for i in range(n):
            ev = twins.get(i) or extra(i)
            t = f"2026-01-{1 + i * 28 // n:02d}T00:00:{i % 60:02d}Z"
            f.write(f"{t},c{i % 5000:05d},{ev}\n")
            j.write(f'{{"time":"{t}","customer":"c{i % 5000:05d}","event":"{ev}"}}\n')
n = 120000
write("trig-parts", n, {10: "ticket_closd", n - 10: "ticket-closed"}, lambda i: "login")
write("trig-many", n, {10: "ticket_closd", n - 10: "ticket-closed"}, lambda i: f"a{i % 400:012d}")
write("trig-late", n, {n - 10: "ticket_closd"}, lambda i: f"z{i % 400:012d}")
PY
for f in trig-parts trig-many trig-late; do
    for x in csv jsonl; do
        run "trigger-$f-$x-jobs1" 0 "" "K simulate --no-progress --jobs 1 trig.kai $f.$x"
        mv "$W/.err" "$W/trig1.err"
        run "trigger-$f-$x-jobs4" 0 "" "K simulate --no-progress --jobs 4 trig.kai $f.$x"
        check "trigger-$f-$x-same" 'cmp -s trig1.err .err'
        [ $f = trig-parts ] &&
            check "trigger-$f-$x-named" 'grep -q "^kairos: warning: rule nps never triggered: the input had no ticket_closed event (the closest event name of the input that the policy does not name: \"ticket-closed\")$" .err'
    done
done
run trigger-many 0 '^kairos: warning: rule nps never triggered: the input had no ticket_closed event$' 'K simulate --no-progress --jobs 4 trig.kai trig-many.csv'
# 400 near-twins greater than the closest one, which comes last: kept
run trigger-late 0 '^kairos: warning: rule nps never triggered: the input had no ticket_closed event \(the closest event name of the input that the policy does not name: "ticket_closd"\)$' 'K simulate --no-progress --jobs 1 trig.kai trig-late.csv'
rm -f "$W"/trig-parts.* "$W"/trig-many.* "$W"/trig-late.*

kt_end
