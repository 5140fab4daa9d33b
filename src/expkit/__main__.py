from expkit.cli import main

# Guarded: importing `expkit.__main__` (a `_target_: expkit.__main__.main` in a run folder makes
# the trust check locate it) must not run the CLI a second time with the caller's sys.argv.
if __name__ == "__main__":
    raise SystemExit(main())
