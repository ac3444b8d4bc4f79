check --format json ../errors/stray-continuation-bytes.kai
