from lossbench.cli import main

raise SystemExit(main())
