"""torchtext-compatible text pipeline: basic_english tokenizer, n-grams, vocabulary, corpus encoding."""
