// Creates the secure stack's SCRAM users and ACLs in one JVM (scripts/stack up --secure).
//
// Run with Java's single-file source launcher against Kafka's own client jars:
//   java -cp "$KAFKA_LIBS/*" SecureSetup.java BOOTSTRAP SPEC_FILE
// One program instead of kafka-configs + kafka-acls: each of those tools is a JVM start of a few
// seconds, and the stack would need a dozen of them. Both requests are idempotent (a user's
// password is upserted, an existing ACL binding is left as it is), so every `up` runs it.
//
// SPEC_FILE lines (see kafka-acls.txt):
//   user NAME PASSWORD
//   allow PRINCIPAL RESOURCE_TYPE PATTERN_TYPE NAME OPERATION[,OPERATION...]
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class SecureSetup {
  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: SecureSetup BOOTSTRAP SPEC_FILE");
      System.exit(2);
    }
    List<UserScramCredentialAlteration> users = new ArrayList<>();
    List<AclBinding> acls = new ArrayList<>();
    int lineNo = 0;
    for (String raw : Files.readAllLines(Path.of(args[1]))) {
      lineNo++;
      String line = raw.replaceAll("#.*$", "").trim();
      if (line.isEmpty()) continue;
      String[] f = line.split("\\s+");
      try {
        if (f[0].equals("user") && f.length == 3) {
          users.add(new UserScramCredentialUpsertion(f[1], new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), f[2]));
        } else if (f[0].equals("allow") && f.length == 6) {
          ResourcePattern pattern = new ResourcePattern(ResourceType.fromString(enumName(f[2])), f[4], PatternType.fromString(enumName(f[3])));
          for (String op : f[5].split(",")) {
            AclOperation operation = AclOperation.fromString(enumName(op));
            if (operation == AclOperation.UNKNOWN || pattern.resourceType() == ResourceType.UNKNOWN || pattern.patternType() == PatternType.UNKNOWN) {
              throw new IllegalArgumentException("unknown resource type, pattern type or operation");
            }
            acls.add(new AclBinding(pattern, new AccessControlEntry(f[1], "*", operation, AclPermissionType.ALLOW)));
          }
        } else {
          throw new IllegalArgumentException("expected 'user NAME PASSWORD' or 'allow PRINCIPAL TYPE PATTERN NAME OPS'");
        }
      } catch (IllegalArgumentException e) {
        System.err.println(args[1] + ":" + lineNo + ": " + e.getMessage());
        System.exit(2);
      }
    }
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    try (Admin admin = Admin.create(props)) {
      if (!users.isEmpty()) admin.alterUserScramCredentials(users).all().get(30, TimeUnit.SECONDS);
      if (!acls.isEmpty()) admin.createAcls(acls).all().get(30, TimeUnit.SECONDS);
    }
    System.out.println(users.size() + " SCRAM users, " + acls.size() + " ACL bindings");
  }

  /** DescribeConfigs, transactional-id -> DESCRIBE_CONFIGS, TRANSACTIONAL_ID (Kafka's enum names). */
  static String enumName(String word) {
    return word.replaceAll("([a-z])([A-Z])", "$1_$2").replace('-', '_').toUpperCase(java.util.Locale.ROOT);
  }
}
