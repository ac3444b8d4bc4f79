pass.test.yaml
