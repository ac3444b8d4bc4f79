simulate ../golden/map-columns/policy.kai ../golden/map-columns/events.csv --map customer=user_id,time=ts,event=ts
