bad-schema.test.yaml
