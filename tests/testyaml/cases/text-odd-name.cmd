odd-name.test.yaml
