explain utf8/explain.kai utf8/explain.csv --customer a --format jsonl | python3 utf8/isjson.py lines
