readout utf8/readout.kai utf8/readout.csv --by customer.segment --format json | python3 utf8/isjson.py lines
