diff ../golden/map-columns/policy.kai ../../examples/support-table/policy.kai ../golden/map-columns/events.csv --map customer=user_id,time=ts,event=type,kind=ticket_kind
