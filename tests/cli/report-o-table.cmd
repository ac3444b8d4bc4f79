report ../../examples/support-table/policy.kai ../../examples/support-table/events.csv -o 'postgres://localhost/db?table=t'
