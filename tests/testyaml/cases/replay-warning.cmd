warn.test.yaml
