readout ../../examples/support-table/policy.kai ../../examples/support-table/events.csv -o 'sqlite:x.db?table=t'
