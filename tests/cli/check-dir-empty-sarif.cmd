check --format sarif tree-empty | python3 utf8/isjson.py sarif
