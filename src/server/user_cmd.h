/* user_cmd.h: the `ringchat user ...` subcommands (operator tools that run
 * instead of the server). Never starts a worker; may block (it is a CLI). */
#ifndef RINGCHAT_USER_CMD_H
#define RINGCHAT_USER_CMD_H

/* argv[0] is "user". Returns the process exit status (0 ok, 1 failure,
 * 2 bad usage), after printing what happened. */
int user_cmd_main(int argc, char **argv);

#endif
