import sys

from pug_server.cli import main

sys.exit(main())
