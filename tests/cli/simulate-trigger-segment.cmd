simulate simulate/trigger-segment.kai simulate/trigger-segment.jsonl --input segment --no-progress
