compile ../../examples/support-table/policy.kai -o 'sqlite:x.db?table=t'
