fail.test.yaml
