merge ../../examples/support-table/policy.kai merge/order.csv
