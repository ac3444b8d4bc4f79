check --format sarif utf8/check.kai | python3 utf8/isjson.py sarif
