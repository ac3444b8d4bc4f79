blank-lines.test.yaml
