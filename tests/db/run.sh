#!/bin/sh
# run.sh KAIROS -- event sources and schedule sinks in real databases
# (SPEC.md 5.13): a PostgreSQL server started here (initdb into a
# temporary directory, a Unix socket in it, no TCP; stopped at the end
# even on failure) and SQLite files.  A golden log is loaded into a table;
# the schedule read from the table must equal the one read from the CSV
# file, byte for byte; the schedule written into a table must read back
# the same; bad input gives one clear message and changes no table.
#
# If the server cannot be started the suite FAILS (it never skips).
# Prints one line per failure, then "db: N passed, M failed".
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib.sh"
KT_FAIL=
kt_begin db "$1"
chmod 755 "$TMP"
PGDIR="$TMP/pg"
started=""
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
RUN=""
if [ "$(id -u)" = 0 ]; then RUN="runuser -u postgres --"; fi

cleanup() {
    if [ -n "$started" ]; then $RUN "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

finish() { kt_end; exit $?; }

# ---- the server ---------------------------------------------------------------
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
    bad "PostgreSQL server not installed (/usr/lib/postgresql/*/bin/initdb; tools/deps.sh installs it)"
    finish
fi
mkdir -p "$PGDIR"
[ -n "$RUN" ] && chown postgres "$PGDIR"
if ! $RUN "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U kairos --no-sync -E UTF8 --locale=C >"$TMP/initdb.log" 2>&1; then
    bad "initdb failed" "$TMP/initdb.log"
    finish
fi
if ! $RUN "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
        -o "-k $PGDIR -c listen_addresses='' -F" start >"$TMP/start.log" 2>&1; then
    cat "$PGDIR/server.log" >>"$TMP/start.log" 2>/dev/null
    bad "the PostgreSQL server did not start" "$TMP/start.log"
    finish
fi
started=1
URI="postgresql:///postgres?host=$PGDIR&user=kairos"
psql_do() { psql -X -q -v ON_ERROR_STOP=1 -h "$PGDIR" -U kairos -d postgres "$@"; }

# check LABEL EXPECTED_FILE ACTUAL_FILE -- byte for byte
check() {
    if cmp -s "$2" "$3"; then ok; else diff -u "$2" "$3" >"$TMP/diff" 2>&1; bad "$1" "$TMP/diff"; fi
}
# check_err LABEL WANT_STATUS EXPECTED_ERR -- runs the rest, compares stderr
# (with the socket directory shown as PGDIR) and the status
check_err() {
    label=$1 want=$2 exp=$3
    shift 3
    "$@" >"$TMP/out" 2>"$TMP/err"
    st=$?
    sed "s#$PGDIR#PGDIR#g" "$TMP/err" >"$TMP/err2"
    if [ "$st" != "$want" ]; then bad "$label: exit status $st, expected $want" "$TMP/err2"
    elif ! printf '%s\n' "$exp" | cmp -s - "$TMP/err2"; then
        printf '%s\n' "$exp" >"$TMP/exp"; diff -u "$TMP/exp" "$TMP/err2" >"$TMP/diff"; bad "$label: messages differ" "$TMP/diff"
    else ok
    fi
}

EX="$ROOT/examples/support-table"
POLICY="$EX/policy.kai"
cd "$TMP" || exit 1

# ---- PostgreSQL: the golden log from a table ------------------------------------
psql_do >"$TMP/psql.log" 2>&1 <<SQL || { bad "loading the log into PostgreSQL" "$TMP/psql.log"; finish; }
CREATE TABLE events (time timestamptz, customer text, event text, tz text, segment text,
                     kind text, sentiment double precision, channel text);
\copy events FROM '$EX/events.csv' (FORMAT csv, HEADER)
CREATE TABLE events_ms AS
  SELECT (extract(epoch FROM time) * 1000)::bigint AS ts, customer AS user_id, event AS type,
         tz, segment, kind AS ticket_kind, sentiment, channel FROM events;
CREATE TABLE events_nocust AS SELECT time, customer AS client, event FROM events;
CREATE TABLE events_badms (ts text, customer text, event text);
INSERT INTO events_badms VALUES ('1772366400000', 'c1', 'purchase'), ('12x4', 'c2', 'purchase');
SQL

"$KAIROS" simulate --no-progress "$POLICY" "$URI&table=events" >"$TMP/s1.csv" 2>"$TMP/err" || bad "pg table: simulate failed" "$TMP/err"
check "pg table=events: schedule differs from the CSV one" "$EX/expected.csv" "$TMP/s1.csv"

"$KAIROS" simulate --no-progress "$POLICY" "$URI&query=SELECT * FROM events_ms ORDER BY ts" \
    --map customer=user_id,time=ts,event=type,kind=ticket_kind --schema /dev/stdin >"$TMP/s2.csv" 2>"$TMP/err" <<'YAML' || bad "pg query + --map + ms: simulate failed" "$TMP/err"
time: {unit: ms}
YAML
check "pg query=, --map, time unit ms: schedule differs" "$EX/expected.csv" "$TMP/s2.csv"

"$KAIROS" explain "$POLICY" "$URI&table=events" --customer c05 >"$TMP/x1" 2>&1
"$KAIROS" explain "$POLICY" "$EX/events.csv" --customer c05 >"$TMP/x2" 2>&1
check "pg: explain differs from the CSV one" "$TMP/x2" "$TMP/x1"

# two spellings of one table are one source (SPEC 6): a plain name in
# another case, with the default schema, the parameters in another order;
# given twice, or written by -o while read (which would replace it)
usage_first() {    # usage_first LABEL EXPECTED_FIRST_LINE CMD...
    label=$1 exp=$2
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    st=$?
    if [ "$st" = 2 ] && [ ! -s "$TMP/out" ] && head -n 1 "$TMP/err" | sed "s#$PGDIR#PGDIR#g" | grep -qxF "$exp"; then ok
    else bad "$label: exit status $st" "$TMP/err"; fi
}
URI2="postgresql:///postgres?user=kairos&host=$PGDIR"
usage_first "pg: one table given twice, in upper case" \
    "kairos simulate: postgresql:///postgres?host=PGDIR&user=kairos&table=events and postgresql:///postgres?host=PGDIR&user=kairos&table=EVENTS are the same source: its events would be replayed twice" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&table=events" "$URI&table=EVENTS"
usage_first "pg: one table given twice, as public.events, parameters in another order" \
    "kairos simulate: postgresql:///postgres?host=PGDIR&user=kairos&table=events and postgresql:///postgres?user=kairos&host=PGDIR&table=public.events are the same source: its events would be replayed twice" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&table=events" "$URI2&table=public.events"
usage_first "pg: -o onto the table read, spelled otherwise" \
    "kairos simulate: -o postgresql:///postgres?user=kairos&host=PGDIR&table=Events is also an input (postgresql:///postgres?host=PGDIR&user=kairos&table=events, the same source): writing it would replace what is read" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&table=events" -o "$URI2&table=Events"
# a quoted name keeps its case: "Events" is another table than events
"$KAIROS" simulate --no-progress "$POLICY" "$URI&table=events" "$URI&table=%22x%22" >/dev/null 2>"$TMP/err"
if [ $? = 1 ] && ! grep -q 'same source' "$TMP/err"; then ok; else bad "pg: a quoted name taken for another" "$TMP/err"; fi

# ---- PostgreSQL: the schedule into a table (one transaction) ---------------------
readback() {
    psql_do -c "\\copy (SELECT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS time, customer, rule, action, survey, channel, attempt, variant FROM $1) TO STDOUT (FORMAT csv, HEADER)"
}
if "$KAIROS" simulate --no-progress "$POLICY" "$EX/events.csv" -o "$URI&table=schedule" 2>"$TMP/err"; then
    readback schedule >"$TMP/s3.csv" 2>"$TMP/err"
    check "pg -o table=schedule: read back differs" "$EX/expected.csv" "$TMP/s3.csv"
else bad "pg -o table=schedule failed" "$TMP/err"
fi
# the second time the table exists: the server's notice about it is not
# printed (standard error stays empty)
if "$KAIROS" simulate --no-progress "$POLICY" "$EX/events.csv" -o "$URI&table=schedule" 2>"$TMP/err" && [ ! -s "$TMP/err" ]; then ok
else bad "pg -o into an existing table: a message on standard error" "$TMP/err"
fi
# a query whose last line ends in a -- comment (left out of the COPY around it)
"$KAIROS" simulate --no-progress "$POLICY" "$URI&query=SELECT * FROM events -- every row" >"$TMP/s7.csv" 2>"$TMP/err" ||
    bad "pg query= ending in a -- comment failed" "$TMP/err"
check "pg query= ending in a -- comment: schedule differs" "$EX/expected.csv" "$TMP/s7.csv"
check_err "pg: no statement" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=;: error: query= holds no statement" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=;"
# what trails the query's last token -- a ';', blanks, comments -- is left
# out of the COPY (...) around it; a query of nothing else is one error
"$KAIROS" simulate --no-progress "$POLICY" "$URI&query=SELECT * FROM events; -- every row" >"$TMP/s8.csv" 2>"$TMP/err" ||
    bad "pg query= ending in '; -- comment' failed" "$TMP/err"
check "pg query= ending in '; -- comment': schedule differs" "$EX/expected.csv" "$TMP/s8.csv"
"$KAIROS" simulate --no-progress "$POLICY" "$URI&query=SELECT * FROM events WHERE event <> ';--' /* a /* nested */ one */ ;
  /* then */ ; -- and the end" >"$TMP/s9.csv" 2>"$TMP/err" ||
    bad "pg query= ending in ';', comments on two lines failed" "$TMP/err"
check "pg query= ending in ';', comments on two lines: schedule differs" "$EX/expected.csv" "$TMP/s9.csv"
check_err "pg: only a comment" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=-- nothing: error: query= holds no statement" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=-- nothing"
check_err "pg: only comments and ';'" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=/* a */ ; -- b: error: query= holds no statement" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=/* a */ ; -- b"
# a failed run leaves the table as it was
printf 'time,customer,event\n2026-03-01T00:00:00Z,c1,purchase\nnot-a-time,c2,purchase\n' >"$TMP/bad.csv"
"$KAIROS" simulate --no-progress "$POLICY" "$TMP/bad.csv" -o "$URI&table=schedule" >/dev/null 2>&1
readback schedule >"$TMP/s4.csv" 2>"$TMP/err"
check "pg -o after a failed run: the table changed" "$EX/expected.csv" "$TMP/s4.csv"
# merge -o: the shards' schedules merged into a table, as simulate -o writes it;
# a merge that fails (the same shard twice: not disjoint) leaves it as it was
"$KAIROS" simulate --no-progress "$POLICY" "$EX/events.csv" --shard 0/2 -o "$TMP/sh0.csv" 2>"$TMP/err" &&
    "$KAIROS" simulate --no-progress "$POLICY" "$EX/events.csv" --shard 1/2 -o "$TMP/sh1.csv" 2>>"$TMP/err" ||
    bad "simulate --shard for merge" "$TMP/err"
if "$KAIROS" merge "$POLICY" "$TMP/sh0.csv" "$TMP/sh1.csv" -o "$URI&table=merged" 2>"$TMP/err"; then
    readback merged >"$TMP/s5.csv" 2>"$TMP/err"
    check "pg merge -o table=merged: read back differs" "$EX/expected.csv" "$TMP/s5.csv"
else bad "pg merge -o table=merged failed" "$TMP/err"
fi
if "$KAIROS" merge "$POLICY" "$TMP/sh0.csv" "$TMP/sh0.csv" -o "$URI&table=merged" >/dev/null 2>"$TMP/err"; then
    bad "pg merge -o of shards that are not disjoint: exit 0"
else
    readback merged >"$TMP/s6.csv" 2>"$TMP/err"
    check "pg merge -o after a failed merge: the table changed" "$EX/expected.csv" "$TMP/s6.csv"
fi

# ---- PostgreSQL: bad input -------------------------------------------------------
# libpq is loaded when first used (runtime/src_pg.c): a libpq.so.5 without
# its functions (found first through LD_LIBRARY_PATH) is one clear message,
# for a source and for a table written to; no file left
mkdir -p "$TMP/fakelib"
printf 'int kairos_not_libpq;\n' >"$TMP/fakelib/x.c"
if cc -shared -fPIC -o "$TMP/fakelib/libpq.so.5" "$TMP/fakelib/x.c" 2>"$TMP/cc.err"; then
    check_err "pg: libpq without its functions (source)" 1 "postgresql:///postgres?host=PGDIR&user=kairos&table=events: error: cannot load the PostgreSQL client library (libpq.so.5, Debian package libpq5): libpq.so.5 has no PQclear" \
        env LD_LIBRARY_PATH="$TMP/fakelib" "$KAIROS" simulate --no-progress "$POLICY" "$URI&table=events"
    check_err "pg: libpq without its functions (sink)" 1 "postgresql:///postgres?host=PGDIR&user=kairos&table=out_fake: error: cannot load the PostgreSQL client library (libpq.so.5, Debian package libpq5): libpq.so.5 has no PQclear" \
        env LD_LIBRARY_PATH="$TMP/fakelib" "$KAIROS" simulate --no-progress "$POLICY" "$EX/events.csv" -o "$URI&table=out_fake"
else
    bad "pg: cannot build a fake libpq.so.5" "$TMP/cc.err"
fi
check_err "pg: query error" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=SELECT tme, customer FROM events: error: query error: column \"tme\" does not exist
      | SELECT tme, customer FROM events
      |        ^" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=SELECT tme, customer FROM events"
# two columns of one name beside a timestamptz column (which the source
# wraps to read as RFC 3339): the header's duplicate column, as from a file
check_err "pg: duplicate column with a timestamptz" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=SELECT time, customer, event, customer FROM events:1:21: error: duplicate column \"customer\"
    1 | time,customer,event,customer
      |                     ^" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=SELECT time, customer, event, customer FROM events"
check_err "pg: missing table" 1 "postgresql:///postgres?host=PGDIR&user=kairos&table=nosuch: error: query error: relation \"nosuch\" does not exist
      | SELECT * FROM nosuch
      |               ^" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&table=nosuch"
check_err "pg: a column missing in the database" 1 "postgresql:///postgres?host=PGDIR&user=kairos&table=events_nocust:1:1: error: missing required column \"customer\" in the header row
    1 | time,client,event
      | ^
      = hint: the closest column: \"client\"; use --map customer=client" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&table=events_nocust"
check_err "pg: wrong mapping" 1 "postgresql:///postgres?host=PGDIR&user=kairos&table=events_ms:1:1: error: missing column \"userid\" (the customer, by --map) in the header row
    1 | ts,user_id,type,tz,segment,ticket_kind,sentiment,channel
      | ^
      = hint: the closest column: \"user_id\"" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&table=events_ms" --map customer=userid,time=ts,event=type
printf 'time:\n  unit: ms\n' >"$TMP/ms.yaml"
check_err "pg: a non-numeric millisecond cell" 1 "postgresql:///postgres?host=PGDIR&user=kairos&table=events_badms:3:1: error: bad time \"12x4\" (expected integer Unix milliseconds, or RFC 3339 like 2026-03-01T09:30:00Z)
    3 | 12x4,c2,purchase
      | ^" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&table=events_badms" --schema "$TMP/ms.yaml" --map time=ts
check_err "pg: no table or query" 1 "postgresql:///postgres?host=PGDIR&user=kairos: error: no table=NAME or query=SQL parameter (e.g. ?table=events)" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI"
mkdir -p "$TMP/nosrv"
"$KAIROS" simulate --no-progress "$POLICY" "postgresql:///postgres?host=$TMP/nosrv&table=events" >"$TMP/out" 2>"$TMP/err"
st=$?
if [ "$st" = 1 ] && grep -q "^postgresql:///postgres?host=$TMP/nosrv&table=events: error: cannot connect: .*No such file or directory" "$TMP/err" \
   && [ "$(wc -l <"$TMP/err")" = 1 ] && [ ! -s "$TMP/out" ]; then ok
else bad "pg: connection refused: status $st" "$TMP/err"
fi

# a password never appears in a message (user:***@, password=***)
mkdir -p "$PGDIR/nosrv"
check_err "pg: the password hidden" 1 "postgresql://bob:***@/postgres?host=PGDIR/nosrv&password=***&table=events: error: cannot connect: connection to server on socket \"PGDIR/nosrv/.s.PGSQL.5432\" failed: No such file or directory" \
    "$KAIROS" simulate --no-progress "$POLICY" "postgresql://bob:secret@/postgres?host=$PGDIR/nosrv&password=zzz&table=events"
check_err "pg: -o with query=" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=SELECT 1: error: the schedule goes to a table: give table=NAME, not query=" \
    "$KAIROS" simulate --no-progress "$POLICY" "$EX/events.csv" -o "$URI&query=SELECT 1"
check_err "pg: table= and query=" 1 "postgresql:///postgres?host=PGDIR&user=kairos&table=events&query=SELECT 1: error: give table=NAME or query=SQL, not both" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&table=events&query=SELECT 1"

# ---- PostgreSQL: reading never changes the database (SPEC 5.13 "Read only") --
# the source runs in a transaction started READ ONLY: a query that writes
# is refused by the server before it reads or writes a row -- with no column
# rendered around it (events_badms: text only), and with one (events:
# timestamptz, double precision), where an INSERT ... RETURNING or a
# data-modifying WITH is no subquery of the SELECT around it and is run as
# it is, to be refused as the write it is -- and the tables keep their rows
RO="(a source is only read: query= must not change the database)"
pg_count() { psql_do -Atc "SELECT count(*) FROM $1" 2>&1; }
n_events=$(pg_count events)
n_badms=$(pg_count events_badms)
check_err "pg: DELETE ... RETURNING refused" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=DELETE FROM events_badms RETURNING *: error: query error: cannot execute DELETE in a read-only transaction $RO
      | DELETE FROM events_badms RETURNING *" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=DELETE FROM events_badms RETURNING *"
check_err "pg: INSERT ... RETURNING refused" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=INSERT INTO events_badms VALUES ('1', 'c9', 'purchase') RETURNING *: error: query error: cannot execute INSERT in a read-only transaction $RO
      | INSERT INTO events_badms VALUES ('1', 'c9', 'purchase') RETURNING *" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=INSERT INTO events_badms VALUES ('1', 'c9', 'purchase') RETURNING *"
# (the server names the statement of a data-modifying WITH SELECT)
check_err "pg: WITH ... DELETE ... RETURNING refused" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=WITH d AS (DELETE FROM events_badms RETURNING *) SELECT * FROM d: error: query error: cannot execute SELECT in a read-only transaction $RO
      | WITH d AS (DELETE FROM events_badms RETURNING *) SELECT * FROM d" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=WITH d AS (DELETE FROM events_badms RETURNING *) SELECT * FROM d"
check_err "pg: DELETE ... RETURNING refused, a timestamptz column" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=DELETE FROM events RETURNING *: error: query error: cannot execute DELETE in a read-only transaction $RO
      | DELETE FROM events RETURNING *" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=DELETE FROM events RETURNING *"
check_err "pg: WITH ... DELETE ... RETURNING refused, a timestamptz column" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=WITH d AS (DELETE FROM events RETURNING *) SELECT * FROM d: error: query error: cannot execute SELECT in a read-only transaction $RO
      | WITH d AS (DELETE FROM events RETURNING *) SELECT * FROM d" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=WITH d AS (DELETE FROM events RETURNING *) SELECT * FROM d"
check_err "pg: INSERT ... RETURNING refused, a timestamptz column" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=INSERT INTO events (customer) VALUES ('c9') RETURNING *; -- x: error: query error: cannot execute INSERT in a read-only transaction $RO
      | INSERT INTO events (customer) VALUES ('c9') RETURNING *; -- x" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=INSERT INTO events (customer) VALUES ('c9') RETURNING *; -- x"
check_err "pg: INSERT ... RETURNING on the query's second line refused, a timestamptz column" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=-- one more
  INSERT INTO events (customer) VALUES ('c9') RETURNING *: error: query error: cannot execute INSERT in a read-only transaction $RO
      |   INSERT INTO events (customer) VALUES ('c9') RETURNING *" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=-- one more
  INSERT INTO events (customer) VALUES ('c9') RETURNING *"
check_err "pg: SELECT ... FOR UPDATE refused" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=SELECT * FROM events FOR UPDATE: error: query error: cannot execute SELECT FOR UPDATE in a read-only transaction $RO
      | SELECT * FROM events FOR UPDATE" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=SELECT * FROM events FOR UPDATE"
psql_do -c 'CREATE FUNCTION kairos_wipe() RETURNS int LANGUAGE plpgsql AS $$BEGIN DELETE FROM events_badms; RETURN 1; END$$' >"$TMP/psql.log" 2>&1 ||
    bad "pg: CREATE FUNCTION kairos_wipe" "$TMP/psql.log"
check_err "pg: a function that writes refused" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=SELECT *, kairos_wipe() AS w FROM events_badms: error: query failed: cannot execute DELETE in a read-only transaction $RO
      | SELECT *, kairos_wipe() AS w FROM events_badms" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=SELECT *, kairos_wipe() AS w FROM events_badms" --map time=ts --schema "$TMP/ms.yaml"
# a query that would close the COPY's parenthesis and run a second statement
# is refused when prepared (one statement), and the COPY runs as one
check_err "pg: a query closing COPY (...) refused" 1 "postgresql:///postgres?host=PGDIR&user=kairos&query=SELECT 1) TO STDOUT; DELETE FROM events_badms; COPY (SELECT 1: error: query error: syntax error at or near \")\"
      | SELECT 1) TO STDOUT; DELETE FROM events_badms; COPY (SELECT 1
      |         ^" \
    "$KAIROS" simulate --no-progress "$POLICY" "$URI&query=SELECT 1) TO STDOUT; DELETE FROM events_badms; COPY (SELECT 1"
if [ "$(pg_count events)" = "$n_events" ] && [ "$n_events" -gt 0 ] && [ "$(pg_count events_badms)" = 2 ]; then ok
else bad "pg: a refused query changed a table (events: $n_events rows before, $(pg_count events) after; events_badms: $n_badms before, $(pg_count events_badms) after)"
fi

# ---- PostgreSQL: values read as the CSV reader reads them (SPEC 5.13) ---------------
# a boolean column arrives as true/false, booleans (5.4), not COPY's t/f
# (strings); also when it is the only column rendered so (time as text
# here), and through a domain
printf 'time,customer,event,flag\n2026-05-01T10:00:00Z,a,purchase,true\n2026-05-01T10:00:00Z,c,purchase,false\n2026-05-01T10:00:00Z,e,purchase,\n' >"$TMP/flags.csv"
psql_do >"$TMP/psql.log" 2>&1 <<SQL || bad "pg: loading the boolean table" "$TMP/psql.log"
CREATE TABLE flags (time text, customer text, event text, flag boolean);
\copy flags FROM '$TMP/flags.csv' (FORMAT csv, HEADER)
CREATE DOMAIN yesno AS boolean;
SQL
BOOLPOL="$ROOT/tests/golden/csv-booleans/policy.kai"
"$KAIROS" simulate --no-progress "$BOOLPOL" "$TMP/flags.csv" >"$TMP/b0.csv" 2>&1
if grep -q '^2026-05-01T10:00:00Z,a,r1,ask,NPS,' "$TMP/b0.csv" && grep -q ',c,r4,task,check,' "$TMP/b0.csv"; then ok
else bad "pg boolean: the CSV file's schedule has no r1 for a or r4 for c" "$TMP/b0.csv"; fi
"$KAIROS" simulate --no-progress "$BOOLPOL" "$URI&table=flags" >"$TMP/b1.csv" 2>&1
check "pg boolean column: schedule differs from the CSV one" "$TMP/b0.csv" "$TMP/b1.csv"
"$KAIROS" simulate --no-progress "$BOOLPOL" "$URI&query=SELECT time, customer, event, flag::yesno AS flag FROM flags" >"$TMP/b2.csv" 2>&1
check "pg boolean domain: schedule differs from the CSV one" "$TMP/b0.csv" "$TMP/b2.csv"

# real, double precision and numeric infinities arrive as 1e999 / -1e999,
# numbers (5.4), as the SQLite source gives them (COPY: Infinity, a string);
# NaN stays NaN, a string as in a CSV file, which a rule reads as unknown
# (with the same warning as from the CSV file)
cat >"$TMP/inf.kai" <<'KAI'
policy "inf"
cap 1 per 1d
event purchase { x: number, r: number, n: number }
rule big: task big after purchase if x > 1000000000 and n > 1000000000 and r < -1000000000
rule small: task small after purchase if x < 2 and n < 2 and r < 1
rule known: task known after purchase if x <= 0 or x > 0
KAI
printf 'time,customer,event,x,r,n\n2026-05-01T10:00:00Z,a,purchase,1e999,-1e999,1e999\n2026-05-01T10:00:00Z,b,purchase,NaN,NaN,NaN\n2026-05-01T10:00:00Z,c,purchase,1.5,0.25,1.50\n' >"$TMP/inf.csv"
psql_do >"$TMP/psql.log" 2>&1 <<SQL || bad "pg: loading the infinities" "$TMP/psql.log"
CREATE TABLE nums (time text, customer text, event text, x double precision, r real, n numeric);
INSERT INTO nums VALUES ('2026-05-01T10:00:00Z', 'a', 'purchase', 'Infinity', '-Infinity', 'Infinity'),
                        ('2026-05-01T10:00:00Z', 'b', 'purchase', 'NaN', 'NaN', 'NaN'),
                        ('2026-05-01T10:00:00Z', 'c', 'purchase', 1.5, 0.25, 1.50);
SQL
"$KAIROS" simulate --no-progress "$TMP/inf.kai" "$TMP/inf.csv" >"$TMP/i0.csv" 2>&1
if grep -q ',a,big,task,big,' "$TMP/i0.csv" && grep -q ',c,small,task,small,' "$TMP/i0.csv" && ! grep -q ',b,known,' "$TMP/i0.csv" \
   && grep -q '"NaN"' "$TMP/i0.csv"; then ok
else bad "pg infinities: the CSV file's schedule is not the one expected" "$TMP/i0.csv"; fi
"$KAIROS" simulate --no-progress "$TMP/inf.kai" "$URI&table=nums" >"$TMP/i1.csv" 2>&1
check "pg Infinity, -Infinity, NaN: schedule and warnings differ from the CSV ones" "$TMP/i0.csv" "$TMP/i1.csv"
sqlite3 "$TMP/inf.db" "CREATE TABLE nums (time TEXT, customer TEXT, event TEXT, x REAL, r REAL, n REAL);
  INSERT INTO nums VALUES ('2026-05-01T10:00:00Z', 'a', 'purchase', 9e999, -9e999, 9e999),
                          ('2026-05-01T10:00:00Z', 'c', 'purchase', 1.5, 0.25, 1.5);" 2>"$TMP/err" || bad "sqlite3: the infinities" "$TMP/err"
"$KAIROS" simulate --no-progress "$TMP/inf.kai" "sqlite:$TMP/inf.db?table=nums" >"$TMP/i2.csv" 2>&1
"$KAIROS" simulate --no-progress "$TMP/inf.kai" "$URI&query=SELECT * FROM nums WHERE customer <> 'b'" >"$TMP/i3.csv" 2>&1
check "pg infinities: schedule differs from the SQLite one" "$TMP/i2.csv" "$TMP/i3.csv"

# ---- SQLite ------------------------------------------------------------------------
DB="$TMP/events.db"
sqlite3 "$DB" ".import --csv '$EX/events.csv' events" 2>"$TMP/err" || bad "sqlite3 .import" "$TMP/err"
"$KAIROS" simulate --no-progress "$POLICY" "sqlite:$DB?table=events" >"$TMP/q1.csv" 2>"$TMP/err" || bad "sqlite table: simulate failed" "$TMP/err"
check "sqlite table=events: schedule differs from the CSV one" "$EX/expected.csv" "$TMP/q1.csv"
"$KAIROS" simulate --no-progress "$POLICY" "sqlite:$DB?query=SELECT customer AS uid, time, event, tz, segment, kind, sentiment, channel FROM events WHERE 1 = 1" \
    --map customer=uid >"$TMP/q2.csv" 2>"$TMP/err" || bad "sqlite query: simulate failed" "$TMP/err"
check "sqlite query= with --map: schedule differs" "$EX/expected.csv" "$TMP/q2.csv"
if "$KAIROS" simulate --no-progress "$POLICY" "$EX/events.csv" -o "sqlite:$TMP/out.db?table=schedule" 2>"$TMP/err"; then
    sqlite3 -csv -header "$TMP/out.db" "SELECT * FROM schedule" | tr -d '\r' >"$TMP/q3.csv"
    check "sqlite -o table=schedule: read back differs" "$EX/expected.csv" "$TMP/q3.csv"
else bad "sqlite -o failed" "$TMP/err"
fi
"$KAIROS" simulate --no-progress "$POLICY" "$TMP/bad.csv" -o "sqlite:$TMP/out.db?table=schedule" >/dev/null 2>&1
sqlite3 -csv -header "$TMP/out.db" "SELECT * FROM schedule" | tr -d '\r' >"$TMP/q4.csv"
check "sqlite -o after a failed run: the table changed" "$EX/expected.csv" "$TMP/q4.csv"
# a failed run leaves no database file it created (simulate and merge)
"$KAIROS" simulate --no-progress "$POLICY" "$TMP/bad.csv" -o "sqlite:$TMP/new.db?table=schedule" >/dev/null 2>&1
if [ ! -e "$TMP/new.db" ] && [ ! -e "$TMP/new.db-journal" ]; then ok; else bad "sqlite -o: a failed simulate left new.db"; fi
"$KAIROS" merge "$POLICY" "$TMP/sh1.csv" "$TMP/sh1.csv" -o "sqlite:$TMP/new2.db?table=merged" >/dev/null 2>&1
if [ ! -e "$TMP/new2.db" ]; then ok; else bad "sqlite merge -o: a failed merge left new2.db"; fi
if "$KAIROS" merge "$POLICY" "$TMP/sh1.csv" "$TMP/sh0.csv" -o "sqlite:$TMP/out.db?table=merged" 2>"$TMP/err"; then
    sqlite3 -csv -header "$TMP/out.db" "SELECT * FROM merged" | tr -d '\r' >"$TMP/q5.csv"
    check "sqlite merge -o table=merged: read back differs" "$EX/expected.csv" "$TMP/q5.csv"
else bad "sqlite merge -o failed" "$TMP/err"
fi
# other commands refuse a table (bad usage) and create nothing
( cd "$TMP" && "$KAIROS" compile "$POLICY" -o "sqlite:c.db?table=t" ) >"$TMP/out" 2>&1
st=$?
if [ "$st" = 2 ] && [ ! -e "$TMP/c.db" ] && [ ! -e "$TMP/sqlite:c.db?table=t" ]; then ok
else bad "compile -o sqlite:...: exit status $st, expected 2 and no file" "$TMP/out"
fi
check_err "sqlite: query error" 1 "sqlite:events.db?query=SELECT time, customer FROM events WHER event = 1: error: query error: near \"event\": syntax error
      | SELECT time, customer FROM events WHER event = 1
      |                                        ^" \
    "$KAIROS" simulate --no-progress "$POLICY" "sqlite:events.db?query=SELECT time, customer FROM events WHER event = 1"
check_err "sqlite: no such file" 1 "sqlite:nosuch.db?table=events: error: cannot open: unable to open database file" \
    "$KAIROS" simulate --no-progress "$POLICY" "sqlite:nosuch.db?table=events"
# table=schema.table is a schema and a table, as for PostgreSQL (SPEC 5.13)
"$KAIROS" simulate --no-progress "$POLICY" "sqlite:$DB?table=main.events" >"$TMP/q6.csv" 2>"$TMP/err" || bad "sqlite table=main.events failed" "$TMP/err"
check "sqlite table=main.events: schedule differs" "$EX/expected.csv" "$TMP/q6.csv"
# what SQLite would have run otherwise without a word: the first statement
# only, a NUL-cut name, an unknown parameter taken into the file name
check_err "sqlite: two statements" 1 "sqlite:events.db?query=SELECT * FROM events; DELETE FROM events: error: query= holds more than one statement: give one SELECT" \
    "$KAIROS" simulate --no-progress "$POLICY" "sqlite:events.db?query=SELECT * FROM events; DELETE FROM events"
check_err "sqlite: no statement" 1 "sqlite:events.db?query=-- nothing: error: query= holds no statement" \
    "$KAIROS" simulate --no-progress "$POLICY" "sqlite:events.db?query=-- nothing"
check_err "sqlite: %00 in table=" 1 "sqlite:events.db?table=events%00_old: error: %00 (a NUL byte) in table= or query=: it would end the name there" \
    "$KAIROS" simulate --no-progress "$POLICY" "sqlite:events.db?table=events%00_old"
check_err "sqlite: unknown parameter" 1 "sqlite:new.db?mode=rwc&table=t: error: unknown parameter 'mode=rwc' (a SQLite source takes table= or query=)" \
    "$KAIROS" simulate --no-progress "$POLICY" "$EX/events.csv" -o "sqlite:new.db?mode=rwc&table=t"
if [ -e "$TMP/new.db?mode=rwc" ] || [ -e "$TMP/new.db" ]; then bad "sqlite: unknown parameter: a file was made"; else ok; fi

finish
