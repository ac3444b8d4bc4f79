diff ../../examples/support-table/policy.kai ../../examples/support-table/policy.kai ../../examples/support-table/events.csv -o 'postgresql://u:secret@localhost/db?table=t'
