from expkit.cli import main

raise SystemExit(main())
