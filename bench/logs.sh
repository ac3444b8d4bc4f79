# bench/logs.sh -- sourced by bench/run.sh and bench/scale.sh: the event logs
# they measure on, made by kairos-bench gen and kept in $DIR for the next run,
# and how they time a command.
#
# bench_best OUT ERR CMD...: runs `$BENCH rss CMD...` $RUNS times (standard
# output to OUT, standard error to ERR) and keeps the run with the least wall
# time: sets $wall (seconds), $cpu (user + system seconds) and $rss (kB), or
# wall=fail when a run fails (ERR says why).
bench_best() {
    _out=$1 _err=$2
    shift 2
    wall=""
    _i=0
    while [ "$_i" -lt "$RUNS" ]; do
        _i=$((_i + 1))
        if ! "$BENCH" rss "$@" >"$_out" 2>"$_err"; then
            wall=fail
            return
        fi
        _line=$(tail -n 1 "$_err")
        _w=$(echo "$_line" | awk '{print $2}')
        if [ -z "$wall" ] || awk -v a="$_w" -v b="$wall" 'BEGIN { exit !(a < b) }'; then
            wall=$_w
            cpu=$(echo "$_line" | awk '{print $6}')
            rss=$(echo "$_line" | awk '{print $4}')
        fi
    done
}
#
# bench_log N C ORDER: sets $log to the CSV log of about N events of C
# customers over $D days (seed $SEED), time-sorted (ORDER sorted: the
# generator's own order) or grouped by customer (ORDER grouped: a stable sort
# by customer id, each customer's rows keeping their time order, as most
# exports come), or time-sorted with 36-byte UUIDs for customer ids (ORDER
# uuid: gen -i uuid, the same customers and events), generating it when it
# is not there.  A grouped log is sorted
# from the time-sorted one when that exists, else straight from the
# generator (no time-sorted copy on disk: 50M events are 2.7 GB a copy).
# Returns non-zero, with a message on standard error, when it cannot.
# Needs $BENCH (kairos-bench), $DIR, $D, $SEED.
bench_log() {
    _sorted="$DIR/events-$1-$2-$D-$SEED.csv"
    case $3 in
        sorted) log=$_sorted ;;
        grouped) log="$DIR/events-$1-$2-$D-$SEED-grouped.csv" ;;
        uuid) log="$DIR/events-$1-$2-$D-$SEED-uuid.csv" ;;
        *) echo "bench_log: unknown order $3" >&2; return 1 ;;
    esac
    [ -s "$log" ] && return 0
    if [ "$3" != grouped ]; then
        _ids=cust
        [ "$3" = uuid ] && _ids=uuid
        "$BENCH" gen -n "$1" -c "$2" -d "$D" -s "$SEED" -f csv -i "$_ids" -o "$log.tmp" && mv "$log.tmp" "$log" && return 0
    else
        # sort's buffer: a quarter of the memory, so that a 50M-event log
        # needs no temporary files of the size of the log beside it.
        if [ -s "$_sorted" ]; then
            { head -n 1 "$_sorted" && tail -n +2 "$_sorted" | sort -s -t, -k2,2 -S 25% -T "$DIR"; } >"$log.tmp"
        else
            "$BENCH" gen -n "$1" -c "$2" -d "$D" -s "$SEED" -f csv | {
                IFS= read -r header && printf '%s\n' "$header" && sort -s -t, -k2,2 -S 25% -T "$DIR"; } >"$log.tmp"
        fi && [ -s "$log.tmp" ] && mv "$log.tmp" "$log" && return 0
    fi
    rm -f "$log.tmp"
    echo "cannot generate $log" >&2
    return 1
}
