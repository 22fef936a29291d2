from firmware.tools.cli import main

raise SystemExit(main())
