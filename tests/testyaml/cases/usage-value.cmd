pass.test.yaml --junit
