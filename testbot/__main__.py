from testbot.cli import main

raise SystemExit(main())
