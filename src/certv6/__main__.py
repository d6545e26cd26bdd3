from certv6.cli import main

main()
