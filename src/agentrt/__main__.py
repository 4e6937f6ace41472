from agentrt.cli.main import main

raise SystemExit(main())
