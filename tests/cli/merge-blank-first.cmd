merge merge/ab/p.kai merge/blank-first.jsonl
