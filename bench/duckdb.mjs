// bench/duckdb.mjs -- the peer of make bench: the schedule of bench/single.kai
// computed by DuckDB (the npm package @duckdb/node-api, installed by
// tools/deps.sh into tools/node/node_modules) from a CSV event log of
// kairos-bench gen, written as kairos simulate writes it.
//
// usage: node bench/duckdb.mjs EVENTS.csv OUT.csv
//        node bench/duckdb.mjs --probe    (prints DuckDB's version, or fails)
//
// The rule, in SQL (LANGUAGE.md section 4; times in whole seconds, UTC):
//   trigger   every ticket_closed at t asks NPS via email at due = t + 24 h;
//   restart   it survives only if the customer's next ticket_closed comes
//             strictly after due (a retrigger at the due instant cancels it:
//             events stamped T are applied before asks due at T); of equal
//             ticket_closed stamps only the last one can survive, and all of
//             them give the same row;
//   horizon   nothing due after the latest timestamp of the log is sent;
//   opt-out   the latest opt_out / opt_in of the customer stamped at or before
//             due that applies to email (channel email or absent) decides;
//             an opt_out blocks the ask, which then counts nothing;
//   cap       1 per 30 d over (T - 30 d, T]: an ask that opt-out lets through
//             is sent if the customer's previous sent ask is at least 30 d
//             earlier -- a greedy walk in time order, a recursive CTE (each
//             step finds the next ask at least 30 d after the last sent one).
// One corner is not stated: an opt_out and an opt_in (for email) of one
// customer with the same timestamp are ordered by Kairos in input order;
// DuckDB's CSV reader gives no row number, so here the opt_in wins.
// kairos-bench gen writes no opt_in at all, so the corner cannot arise in the
// bench's logs (bench/run.sh says so when a log has an opt_in).  Times must
// be RFC 3339, as the generator writes them (not integer Unix seconds).
//
// Prints on standard error one line: "duckdb: S s in the engine, version V,
// threads N" (S: from connecting to the written schedule).
import { createRequire } from 'node:module';

const require = createRequire(new URL('../tools/node/package.json', import.meta.url));
let duckdb;
try {
    duckdb = require('@duckdb/node-api');
} catch (e) {
    process.stderr.write(`duckdb: cannot load @duckdb/node-api from tools/node/node_modules (run tools/deps.sh): ${e.message.split('\n')[0]}\n`);
    process.exit(3);
}

if (process.argv.length === 3 && process.argv[2] === '--probe') {
    // can DuckDB start here?  Prints its version and thread count.
    const db = await duckdb.DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const [v, threads] = (await con.runAndReadAll("SELECT version(), current_setting('threads')")).getRows()[0];
    process.stderr.write(`${v}, ${threads} threads\n`);
    process.exit(0);
}
if (process.argv.length !== 4) {
    process.stderr.write('usage: node bench/duckdb.mjs EVENTS.csv OUT.csv | --probe\n');
    process.exit(2);
}
const [events, out] = process.argv.slice(2);
const lit = (s) => `'${s.replaceAll("'", "''")}'`;

const t0 = process.hrtime.bigint();
const db = await duckdb.DuckDBInstance.create(':memory:');
const con = await db.connect();
await con.run("SET TimeZone = 'UTC'");
const version = (await con.runAndReadAll('SELECT version(), current_setting(\'threads\')')).getRows()[0];

// One statement, one scan of the file: the rows are reduced to (t, customer,
// k) with k = 1 ticket_closed, 2 opt_out for email, 3 opt_in for email, 0 any
// other event (kept for the horizon), held once (MATERIALIZED) for the CTEs
// that read them.  asof_loop_join_threshold = 0: without it DuckDB 1.5
// misjudges the size of the ASOF join's left side (a CTE) and runs it as a
// nested loop join (over 100 s instead of 1 s on 10M events).
await con.run('SET asof_loop_join_threshold = 0');
await con.run(`
COPY (
  WITH RECURSIVE
  ev AS MATERIALIZED (
    SELECT epoch(time)::BIGINT AS t, customer,
           CASE WHEN event = 'ticket_closed' THEN 1
                WHEN event = 'opt_out' AND (channel = 'email' OR channel IS NULL) THEN 2
                WHEN event = 'opt_in' AND (channel = 'email' OR channel IS NULL) THEN 3
                ELSE 0 END AS k
    FROM read_csv(${lit(events)}, header = true,
                  types = {'time': 'TIMESTAMPTZ', 'customer': 'VARCHAR', 'event': 'VARCHAR', 'channel': 'VARCHAR'})),
  horizon AS (SELECT max(t) AS h FROM ev),
  closed AS (
    SELECT customer, t + 86400 AS due, lead(t) OVER (PARTITION BY customer ORDER BY t) AS next_t
    FROM ev WHERE k = 1),
  optev AS (   -- per customer and second: is email opted out after it?
    SELECT customer, t, NOT bool_or(k = 3) AS out FROM ev WHERE k >= 2 GROUP BY customer, t),
  pending AS (
    SELECT c.customer, c.due FROM closed c, horizon
    WHERE (c.next_t IS NULL OR c.next_t > c.due) AND c.due <= horizon.h),
  cand AS MATERIALIZED (
    SELECT p.customer, p.due
    FROM pending p ASOF LEFT JOIN optev o ON p.customer = o.customer AND p.due >= o.t
    WHERE o.out IS NULL OR NOT o.out),
  sent(customer, due) AS (
    SELECT customer, min(due) FROM cand GROUP BY customer
    UNION ALL
    SELECT c.customer, min(c.due)
    FROM sent s JOIN cand c ON c.customer = s.customer AND c.due >= s.due + 30 * 86400
    GROUP BY c.customer)
  SELECT strftime(to_timestamp(due), '%Y-%m-%dT%H:%M:%SZ') AS time, customer,
         'nps' AS rule, 'ask' AS action, 'NPS' AS survey, 'email' AS channel,
         1 AS attempt, NULL AS variant
  FROM sent
  ORDER BY due, customer
) TO ${lit(out)} (HEADER, DELIMITER ',')`);

const secs = Number(process.hrtime.bigint() - t0) / 1e9;
process.stderr.write(`duckdb: ${secs.toFixed(3)} s in the engine, version ${version[0]}, threads ${version[1]}\n`);
