simulate simulate/trigger-unseen.kai simulate/trigger-bad.jsonl --no-progress --skip-bad-rows
