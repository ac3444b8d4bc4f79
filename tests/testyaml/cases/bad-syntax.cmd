bad-syntax.test.yaml
