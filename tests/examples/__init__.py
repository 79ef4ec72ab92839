"""The examples in examples/, run as their users would run them."""
