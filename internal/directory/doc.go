// Package directory defines where users live: the Directory interface
// (authenticate a login + password, look a user up), the optional
// capabilities a directory may also have (change, reset, unlock, password
// policy), the typed errors every implementation maps its answers to, and
// the User model.
//
// Implementations: directory/ad (Active Directory over LDAPS) and
// directory/file (a YAML file). Both pass directory/directorytest.
// A directory never knows about HTTP or sessions, and never logs passwords.
package directory
