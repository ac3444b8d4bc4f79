simulate ../../examples/support-table/policy.kai ../../examples/support-table/events.csv --stats-format xml
