report report/old.kai report/events.csv --by customer.segment
