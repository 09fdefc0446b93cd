"""Alpaca's error codes, as the simulated venue answers with them: callers handle both
brokers alike."""

CODE_DUPLICATE_CLIENT_ID = 40010001
CODE_NOT_FOUND = 40410000
CODE_NOT_CANCELABLE = 42210000
