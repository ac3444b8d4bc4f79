readout ../golden/map-columns/policy.kai ../golden/map-columns/events.csv --map customer=user_id,time=ts,event=type,kind=ticket_kind --format csv
