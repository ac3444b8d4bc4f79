explain ../../examples/hybrid-nps/policy.kai ../../examples/hybrid-nps/events.csv --customer h01 --rule after_good_ticket
