merge ../../examples/support-table/policy.kai
